"""The write semantics of a real apiserver: create, update, patch, delete, with their rules and errors.

Each write goes through the same pipeline as in the apiserver's generic registry: decode (prune or refuse
unknown fields), keep what the client may not change (system metadata; `.status` on the main resource and
everything but `.status` on the status subresource), default, validate (metadata, schema, CEL with `oldSelf`),
check the resourceVersion precondition, then store, unless nothing changed (a no-op write keeps the
resourceVersion and emits no watch event; kopf and kubectl's `apply` rely on that) or `dryRun=All`.
Deletion honours finalizers: the object gets a deletionTimestamp and stays until the last finalizer is gone.
"""

from __future__ import annotations

import copy
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import cel, errors, meta, patching
from .errors import ApiError, FieldError
from .resources import Registry, Resource, established, resources_from_crd
from .schema import SchemaError
from .store import Store

STRICT, WARN, IGNORE = "Strict", "Warn", "Ignore"
GENERATE_NAME_ATTEMPTS = 8  # the apiserver retries generateName collisions a few times too


@dataclass
class Outcome:
    """What a write returns: the object (or a Status), the HTTP code, and warnings for the Warning header."""

    body: dict[str, Any]
    code: int = 200
    warnings: list[str] = field(default_factory=list)


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_validation: str = WARN  # the server default since 1.27 when the client sends none
    field_manager: str | None = None


def _without(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


class Crud:
    def __init__(
        self, registry: Registry, store: Store, *, seed: int | None = 0, enforce_namespaces: bool = True
    ):
        self.registry = registry
        self.store = store
        self.rng = random.Random(seed)
        self.enforce_namespaces = enforce_namespaces

    # --- reads --------------------------------------------------------------------------------------------

    def get(self, res: Resource, namespace: str | None, name: str) -> dict[str, Any]:
        stored = self.store.get(res.storage, namespace if res.namespaced else None, name)
        if stored is None:
            raise errors.not_found(res.plural, res.group, name)
        return stored

    # --- create -------------------------------------------------------------------------------------------

    def create(self, res: Resource, namespace: str | None, body: Any, opts: WriteOptions) -> Outcome:
        obj = self._decode(res, body, namespace)
        meta_in = obj.setdefault("metadata", {})
        if meta_in.get("resourceVersion"):
            raise errors.internal("resourceVersion should not be set on objects to be created")
        warnings = self._admit_fields(res, obj, opts, creating=True)
        self._check_namespace_exists(res, obj)
        meta_in = obj["metadata"]
        for key in (*meta.SYSTEM_FIELDS, "managedFields", "selfLink"):
            meta_in.pop(key, None)
        if not meta_in.get("name") and meta_in.get("generateName"):
            meta_in["name"] = self._generated_name(res, meta_in)
        meta_in["uid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        meta_in["creationTimestamp"] = meta.now()
        if res.has_generation:
            meta_in["generation"] = 1
        if res.has_status and res.custom:
            obj.pop("status", None)  # the status subresource is the only way to write status
        self._builtin_defaults(res, obj)
        self._validate(res, obj, None)
        if self.store.get(res.storage, meta_in.get("namespace"), meta_in["name"]) is not None:
            raise errors.already_exists(res.plural, res.group, meta_in["name"])
        if res.plural == "customresourcedefinitions":
            self._register_crd(obj, opts.dry_run)
        if opts.dry_run:
            return Outcome(res.render(obj), 201, warnings)
        self.store.put(res.storage, obj, None)
        return Outcome(res.render(obj), 201, warnings)

    def _generated_name(self, res: Resource, meta_in: dict[str, Any]) -> str:
        for _ in range(GENERATE_NAME_ATTEMPTS):
            name = meta.generate_name(meta_in["generateName"], self.rng)
            if self.store.get(res.storage, meta_in.get("namespace"), name) is None:
                return name
        return name

    # --- update / patch -----------------------------------------------------------------------------------

    def update(
        self, res: Resource, namespace: str | None, name: str, sub: str, body: Any, opts: WriteOptions
    ) -> Outcome:
        old = self.get(res, namespace, name)
        candidate = self._decode(res, body, namespace)
        got = (candidate.get("metadata") or {}).get("name")
        if got != name:
            raise errors.bad_request(
                f"the name of the object ({got}) does not match the name on the URL ({name})"
            )
        return self._write(res, old, candidate, sub, opts)

    def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        sub: str,
        content_type: str,
        patch: Any,
        opts: WriteOptions,
    ) -> Outcome:
        if content_type == patching.STRATEGIC and res.custom:
            raise errors.unsupported_media_type(patching.CUSTOM_RESOURCE_PATCH_TYPES)
        if content_type == patching.APPLY_YAML:
            return self._apply(res, namespace, name, sub, patch, opts)
        old = self.get(res, namespace, name)
        current = res.render(old)
        if content_type == patching.MERGE:
            if not isinstance(patch, dict):
                raise errors.bad_request(
                    "json: cannot unmarshal into Go value of type map[string]interface {}"
                )
            candidate = patching.merge_patch(current, patch)
        elif content_type == patching.STRATEGIC:
            candidate = patching.strategic_merge_patch(current, patch)
        elif content_type == patching.JSON_PATCH:
            try:
                candidate = patching.json_patch(current, patch)
            except patching.PatchFailed as exc:
                raise ApiError(
                    422,
                    "the server rejected our request due to an error in our request",
                    details={"causes": [{"reason": "UnexpectedServerResponse", "message": str(exc)}]},
                ) from exc
        else:
            accepted = patching.CUSTOM_RESOURCE_PATCH_TYPES if res.custom else patching.BUILTIN_PATCH_TYPES
            raise errors.unsupported_media_type(accepted)
        candidate = self._decode(res, candidate, namespace)
        return self._write(res, old, candidate, sub, opts)

    def _apply(
        self, res: Resource, namespace: str | None, name: str, sub: str, applied: Any, opts: WriteOptions
    ):
        if not opts.field_manager:
            raise errors.bad_request("PATCH, apply: fieldManager is required for apply requests")
        if not isinstance(applied, dict):
            raise errors.bad_request("error decoding YAML: the applied configuration must be an object")
        applied_name = (applied.get("metadata") or {}).get("name")
        if applied_name and applied_name != name:
            raise errors.bad_request(
                f"the name of the object ({applied_name}) does not match the name on the URL ({name})"
            )
        old = self.store.get(res.storage, namespace if res.namespaced else None, name)
        if old is None:
            if sub:
                raise errors.not_found(res.plural, res.group, name)
            body = copy.deepcopy(applied)
            body.setdefault("metadata", {})["name"] = name
            return self.create(res, namespace, body, opts)
        candidate = self._decode(res, patching.apply_patch(res.render(old), applied), namespace)
        return self._write(res, old, candidate, sub, opts)

    def _write(
        self, res: Resource, old: dict[str, Any], candidate: dict[str, Any], sub: str, opts: WriteOptions
    ) -> Outcome:
        old_meta = old["metadata"]
        new_meta = candidate.setdefault("metadata", {})
        if not isinstance(new_meta, dict):
            raise errors.bad_request("metadata must be an object")
        wanted_rv = new_meta.get("resourceVersion")
        if wanted_rv and wanted_rv != old_meta.get("resourceVersion"):
            raise errors.conflict(res.plural, res.group, old_meta["name"], errors.STALE)
        if sub == "status":
            obj = copy.deepcopy(old)
            if "status" in candidate:
                obj["status"] = candidate["status"]
            else:
                obj.pop("status", None)
            warnings = self._admit_fields(res, obj, opts, creating=False)
        elif sub:
            raise errors.method_not_allowed(f"the server does not allow writes to the {sub} subresource")
        else:
            warnings = self._admit_fields(res, candidate, opts, creating=False)
            obj = candidate
            obj.pop("managedFields", None)
            meta.keep_system_fields(obj["metadata"], old_meta)
            obj["metadata"].pop("managedFields", None)
            if res.has_status:
                if "status" in old:
                    obj["status"] = old["status"]
                else:
                    obj.pop("status", None)
        obj["metadata"]["resourceVersion"] = old_meta.get("resourceVersion")
        if res.has_generation and self._spec_changed(res, obj, old):
            obj["metadata"]["generation"] = int(old_meta.get("generation") or 0) + 1
        self._validate(res, obj, old)
        if obj == old:
            return Outcome(res.render(old), 200, warnings)  # a no-op: no new resourceVersion, no watch event
        if res.plural == "customresourcedefinitions":
            self._register_crd(obj, opts.dry_run)
        if opts.dry_run:
            return Outcome(res.render(obj), 200, warnings)
        if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
            change = self.store.remove(res.storage, obj)
            self._after_removal(res, obj)
            return Outcome(res.render(change.obj), 200, warnings)
        self.store.put(res.storage, obj, old)
        return Outcome(res.render(obj), 200, warnings)

    @staticmethod
    def _spec_changed(res: Resource, new: dict[str, Any], old: dict[str, Any]) -> bool:
        ignored = ("metadata", "status") if res.has_status else ("metadata",)
        return _without(new, *ignored) != _without(old, *ignored)

    # --- delete -------------------------------------------------------------------------------------------

    def delete(
        self, res: Resource, namespace: str | None, name: str, options: dict[str, Any], dry_run: bool
    ) -> Outcome:
        old = self.get(res, namespace, name)
        old_meta = old["metadata"]
        pre = options.get("preconditions") or {}
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if pre.get(key) and pre[key] != old_meta.get(key):
                why = f"Precondition failed: {label} in precondition: {pre[key]}, {label} in object meta: {old_meta.get(key)}"
                raise errors.conflict(res.plural, res.group, name, why)
        if old_meta.get("deletionTimestamp"):
            return Outcome(res.render(old), 200)
        if res.kind == "Namespace" and not dry_run:
            self._empty_namespace(name)
        if old_meta.get("finalizers"):
            obj = copy.deepcopy(old)
            obj_meta = obj["metadata"]
            if res.has_generation:
                obj_meta["generation"] = int(obj_meta.get("generation") or 0) + 1
            obj_meta["deletionTimestamp"] = meta.now()
            obj_meta["deletionGracePeriodSeconds"] = 0
            if not dry_run:
                self.store.put(res.storage, obj, old)
            return Outcome(res.render(obj), 200)
        if dry_run:
            return Outcome(res.render(old), 200)
        gone = old
        if res.kind == "Namespace":
            gone = copy.deepcopy(old)
            gone["metadata"]["deletionTimestamp"] = meta.now()
            gone.setdefault("status", {})["phase"] = "Terminating"
        change = self.store.remove(res.storage, gone)
        self._after_removal(res, gone)
        if res.delete_returns_status:
            details = {"name": name, "kind": res.plural, "uid": old_meta.get("uid")}
            if res.group:
                details["group"] = res.group
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }
            return Outcome(status, 200)
        return Outcome(res.render(change.obj), 200)

    def _empty_namespace(self, namespace: str) -> None:
        """What the namespace controller does: delete everything in it (finalizers still hold objects)."""
        seen: set[str] = set()
        for res in self.registry:
            if not res.namespaced or res.storage in seen:
                continue
            seen.add(res.storage)  # resources sharing a storage (Events) hold the same objects
            for obj in self.store.list(res.storage, namespace):
                self.delete(res, namespace, obj["metadata"]["name"], {}, False)

    def _after_removal(self, res: Resource, obj: dict[str, Any]) -> None:
        if res.plural == "customresourcedefinitions":
            for gone in self.registry.remove_crd(obj["metadata"]["name"]):
                for item in self.store.list(gone.storage):
                    self.store.remove(gone.storage, item)

    # --- the shared pipeline --------------------------------------------------------------------------------

    def _decode(self, res: Resource, body: Any, namespace: str | None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {res.kind} object")
        obj = copy.deepcopy(body)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if kind and kind != res.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({res.kind})"
            )
        if api_version and api_version != res.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({res.api_version})"
            )
        obj["apiVersion"], obj["kind"] = res.storage_api_version, res.kind
        obj = res.to_storage(obj)
        obj_meta = obj.get("metadata")
        if obj_meta is None:
            obj_meta = obj["metadata"] = {}
        if not isinstance(obj_meta, dict):
            raise errors.bad_request("metadata must be an object")
        for key in [k for k, v in obj_meta.items() if v in ("", None, {}, [])]:
            del obj_meta[key]  # ObjectMeta's fields are omitempty: empty ones are not stored
        if res.namespaced:
            given = obj_meta.get("namespace")
            if given and namespace and given != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            obj_meta["namespace"] = namespace or given
        else:
            obj_meta.pop("namespace", None)
        return obj

    def _admit_fields(
        self, res: Resource, obj: dict[str, Any], opts: WriteOptions, creating: bool
    ) -> list[str]:
        """Prune unknown fields (or refuse them with Strict) and apply defaults, for custom resources."""
        if res.schema is None:
            return []
        unknown: list[str] = []
        pruned = res.schema.prune(obj, "", unknown, root=True)
        if unknown and opts.field_validation == STRICT:
            listed = ", ".join(f'unknown field "{u}"' for u in unknown)
            prefix = (
                f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
                if creating
                else ""
            )
            raise errors.bad_request(f"{prefix}strict decoding error: {listed}")
        obj.clear()
        obj.update(res.schema.apply_defaults(pruned))
        if opts.field_validation == WARN:
            return [f'unknown field "{u}"' for u in unknown]
        return []

    def _builtin_defaults(self, res: Resource, obj: dict[str, Any]) -> None:
        if res.kind == "Namespace":
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
            labels = obj["metadata"].setdefault("labels", {})
            labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        elif res.kind == "CustomResourceDefinition":
            established(obj, obj["metadata"]["creationTimestamp"])

    def _validate(self, res: Resource, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        errs: list[FieldError] = meta.validate_meta(obj["metadata"], label_name=res.kind == "Namespace")
        if old is not None:
            errs += meta.validate_meta_update(obj["metadata"], old["metadata"])
        if res.schema is not None:
            body = _without(obj, "apiVersion", "kind", "metadata")
            errs += res.schema.validate(body, "")
            old_body = _without(old, "apiVersion", "kind", "metadata") if old is not None else cel.MISSING
            cel_self = {
                **body,
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "metadata": _cel_meta(obj),
            }
            old_self = cel.MISSING
            if old is not None:
                old_self = {
                    **old_body,
                    "apiVersion": old["apiVersion"],
                    "kind": old["kind"],
                    "metadata": _cel_meta(old),
                }
            errs += res.schema.check_rules(cel_self, old_self, "")
        if errs:
            raise errors.invalid_object(res.kind, res.group, obj["metadata"].get("name") or "", errs)

    def _check_namespace_exists(self, res: Resource, obj: dict[str, Any]) -> None:
        if not res.namespaced:
            return
        namespace = obj["metadata"].get("namespace")
        if not namespace:
            raise errors.bad_request("the namespace of the object is required")
        if self.enforce_namespaces and self.store.get("namespaces", None, namespace) is None:
            raise errors.not_found("namespaces", "", namespace)

    def _register_crd(self, crd: dict[str, Any], dry_run: bool) -> None:
        try:
            if dry_run:
                resources_from_crd(crd)
            else:
                self.registry.add_crd(crd)
        except SchemaError as exc:
            name = crd["metadata"].get("name", "")
            raise errors.invalid_object(
                "CustomResourceDefinition",
                "apiextensions.k8s.io",
                name,
                [errors.invalid("spec", "", str(exc))],
            ) from exc


def _cel_meta(obj: dict[str, Any]) -> dict[str, Any]:
    """CEL sees only metadata.name and metadata.generateName, as in the apiserver."""
    m = obj.get("metadata") or {}
    return {k: m[k] for k in ("name", "generateName") if k in m}
