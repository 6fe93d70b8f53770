"""OpenAPI v3 (and a JSON v2) built from the served resources, so kubectl validates and explains as usual.

kubectl 1.35 reads `/openapi/v3` for two things we need: `kubectl explain` finds a kind's schema by its
`x-kubernetes-group-version-kind` and walks `properties`/`$ref`s; and `kubectl apply/create` (with the default
`--validate=strict`) asks whether the PATCH operation of the kind takes a `fieldValidation` query parameter.
If it does, kubectl leaves validation to the server (`?fieldValidation=Strict`), which is what makes a bad
ODMJob fail with the server's field path and message. Paths and schema names follow the apiserver's:
`/apis/<group>/<version>/namespaces/{namespace}/<plural>/{name}` and `io.k8s...ObjectMeta`-style names with
the group reversed (`io.odm-operator.v1alpha1.ODMJob`).
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .resources import Registry, Resource

META = "io.k8s.apimachinery.pkg.apis.meta.v1"

_OBJECT_META = {
    "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects "
    "users must create.",
    "type": "object",
    "properties": {
        "annotations": {
            "description": "Annotations is an unstructured key value map stored with a resource.",
            "type": "object",
            "additionalProperties": {"type": "string", "default": ""},
        },
        "creationTimestamp": {
            "description": "CreationTimestamp is a timestamp representing the server time when this object was "
            "created.",
            "$ref": f"#/components/schemas/{META}.Time",
        },
        "deletionGracePeriodSeconds": {
            "description": "Number of seconds allowed for this object to gracefully terminate.",
            "type": "integer",
            "format": "int64",
        },
        "deletionTimestamp": {
            "description": "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.",
            "$ref": f"#/components/schemas/{META}.Time",
        },
        "finalizers": {
            "description": "Must be empty before the object is deleted from the registry.",
            "type": "array",
            "items": {"type": "string", "default": ""},
            "x-kubernetes-list-type": "set",
        },
        "generateName": {
            "description": "GenerateName is an optional prefix, used by the server, to generate a unique name "
            "ONLY IF the Name field has not been provided.",
            "type": "string",
        },
        "generation": {
            "description": "A sequence number representing a specific generation of the desired state.",
            "type": "integer",
            "format": "int64",
        },
        "labels": {
            "description": "Map of string keys and values that can be used to organize and categorize objects.",
            "type": "object",
            "additionalProperties": {"type": "string", "default": ""},
        },
        "managedFields": {
            "description": "ManagedFields maps workflow-id and version to the set of fields that are managed by "
            "that workflow.",
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "name": {"description": "Name must be unique within a namespace.", "type": "string"},
        "namespace": {
            "description": "Namespace defines the space within which each name must be unique.",
            "type": "string",
        },
        "ownerReferences": {
            "description": "List of objects depended by this object.",
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "resourceVersion": {
            "description": "An opaque value that represents the internal version of this object.",
            "type": "string",
        },
        "selfLink": {"description": "Deprecated.", "type": "string"},
        "uid": {
            "description": "UID is the unique in time and space value for this object.",
            "type": "string",
        },
    },
}

_LIST_META = {
    "description": "ListMeta describes metadata that synthetic resources must have.",
    "type": "object",
    "properties": {
        "continue": {"type": "string"},
        "remainingItemCount": {"type": "integer", "format": "int64"},
        "resourceVersion": {"type": "string"},
        "selfLink": {"type": "string"},
    },
}

_COMMON_SCHEMAS = {
    f"{META}.ObjectMeta": _OBJECT_META,
    f"{META}.ListMeta": _LIST_META,
    f"{META}.Time": {
        "description": "Time is a wrapper around time.Time.",
        "type": "string",
        "format": "date-time",
    },
    f"{META}.Status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    f"{META}.Patch": {"type": "object", "description": "Patch is provided to give a concrete name and type."},
    f"{META}.DeleteOptions": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}

# Query parameters of writes; kubectl looks for fieldValidation on PATCH to decide who validates.
_WRITE_PARAMS = [
    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
]
_PATCH_PARAMS = [*_WRITE_PARAMS, {"name": "force", "in": "query", "schema": {"type": "boolean"}}]
_LIST_PARAMS = [
    {"name": n, "in": "query", "schema": {"type": t, "uniqueItems": True}}
    for n, t in (
        ("allowWatchBookmarks", "boolean"),
        ("continue", "string"),
        ("fieldSelector", "string"),
        ("labelSelector", "string"),
        ("limit", "integer"),
        ("resourceVersion", "string"),
        ("resourceVersionMatch", "string"),
        ("sendInitialEvents", "boolean"),
        ("timeoutSeconds", "integer"),
        ("watch", "boolean"),
    )
]


def schema_name(res: Resource, kind: str | None = None) -> str:
    if not res.group:
        return f"io.k8s.api.core.{res.version}.{kind or res.kind}"
    reversed_group = ".".join(reversed(res.group.split(".")))
    return f"{reversed_group}.{res.version}.{kind or res.kind}"


def _gvk(res: Resource) -> dict[str, str]:
    return {"group": res.group, "version": res.version, "kind": res.kind}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def kind_schema(res: Resource) -> dict[str, Any]:
    """The published schema of a kind: the CRD's, with apiVersion/kind/metadata filled in like the apiserver."""
    base = copy.deepcopy(res.raw_schema) if res.raw_schema else {"type": "object"}
    if res.raw_schema is None:
        base["x-kubernetes-preserve-unknown-fields"] = True
    props = base.setdefault("properties", {})
    props["apiVersion"] = {
        "description": "APIVersion defines the versioned schema of this representation of an object.",
        "type": "string",
    }
    props["kind"] = {
        "description": "Kind is a string value representing the REST resource.",
        "type": "string",
    }
    props["metadata"] = {
        "description": "Standard object's metadata. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
        "allOf": [_ref(f"{META}.ObjectMeta")],
    }
    base["x-kubernetes-group-version-kind"] = [_gvk(res)]
    return base


def list_schema(res: Resource) -> dict[str, Any]:
    return {
        "description": f"{res.kind}List is a list of {res.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "items": {"type": "array", "items": _ref(schema_name(res))},
            "kind": {"type": "string"},
            "metadata": {"allOf": [_ref(f"{META}.ListMeta")]},
        },
        "x-kubernetes-group-version-kind": [{**_gvk(res), "kind": res.list_kind}],
    }


def _operation(res: Resource, action: str, verb: str, *, body: bool, params: list[dict[str, Any]]) -> dict:
    ok = {"description": "OK", "content": {"application/json": {"schema": _ref(schema_name(res))}}}
    op: dict[str, Any] = {
        "operationId": f"{verb}{res.kind}",
        "parameters": params,
        "responses": {"200": ok, "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(res),
    }
    if body:
        types = ["application/json"] if action != "patch" else _patch_types(res)
        schema = _ref(schema_name(res)) if action != "patch" else _ref(f"{META}.Patch")
        op["requestBody"] = {"content": {t: {"schema": schema} for t in types}, "required": True}
    return op


def _patch_types(res: Resource) -> list[str]:
    types = ["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"]
    return types if res.custom else [*types, "application/strategic-merge-patch+json"]


def _paths(res: Resource) -> dict[str, Any]:
    prefix = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
    collection = (
        f"{prefix}/namespaces/{{namespace}}/{res.plural}" if res.namespaced else f"{prefix}/{res.plural}"
    )
    item = f"{collection}/{{name}}"
    paths: dict[str, Any] = {
        collection: {
            "get": _operation(res, "list", "list", body=False, params=_LIST_PARAMS),
            "post": _operation(res, "post", "create", body=True, params=_WRITE_PARAMS),
            "delete": _operation(
                res, "deletecollection", "deleteCollection", body=False, params=_LIST_PARAMS
            ),
        },
        item: {
            "get": _operation(res, "get", "read", body=False, params=[]),
            "put": _operation(res, "put", "replace", body=True, params=_WRITE_PARAMS),
            "patch": _operation(res, "patch", "patch", body=True, params=_PATCH_PARAMS),
            "delete": _operation(res, "delete", "delete", body=False, params=_WRITE_PARAMS[:1]),
        },
    }
    if res.namespaced:
        paths[f"{prefix}/{res.plural}"] = {
            "get": _operation(res, "list", "list", body=False, params=_LIST_PARAMS)
        }
    if res.has_status:
        paths[f"{item}/status"] = {
            "get": _operation(res, "get", "read", body=False, params=[]),
            "put": _operation(res, "put", "replace", body=True, params=_WRITE_PARAMS),
            "patch": _operation(res, "patch", "patch", body=True, params=_PATCH_PARAMS),
        }
    return paths


def group_version_document(
    registry: Registry, group: str, version: str, server_version: str
) -> dict[str, Any]:
    schemas: dict[str, Any] = copy.deepcopy(_COMMON_SCHEMAS)
    paths: dict[str, Any] = {}
    for res in registry.in_version(group, version):
        schemas[schema_name(res)] = kind_schema(res)
        schemas[schema_name(res, res.list_kind)] = list_schema(res)
        paths.update(_paths(res))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": server_version},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def root_document(registry: Registry, server_version: str) -> dict[str, Any]:
    """`/openapi/v3`: one entry per group/version, with a hash that changes when its document changes."""
    paths = {}
    for group, versions in registry.groups().items():
        for version in versions:
            doc = group_version_document(registry, group, version, server_version)
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()
            path = _gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def swagger_v2(registry: Registry, server_version: str) -> dict[str, Any]:
    """`/openapi/v2` as JSON (clients that insist on protobuf get 406 and fall back to v3)."""
    definitions: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for group, versions in registry.groups().items():
        for version in versions:
            doc = group_version_document(registry, group, version, server_version)
            text = json.dumps(doc).replace("#/components/schemas/", "#/definitions/")
            doc = json.loads(text)
            definitions.update(doc["components"]["schemas"])
            for path, ops in doc["paths"].items():
                for op in ops.values():
                    op.pop("requestBody", None)
                    for param in op.get("parameters", []):
                        param["type"] = param.pop("schema", {}).get("type", "string")
                paths[path] = ops
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": server_version},
        "paths": paths,
        "definitions": definitions,
    }
