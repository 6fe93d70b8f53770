"""The resources the emulator serves: a few built-in kinds plus whatever CustomResourceDefinitions it is given.

A real cluster's discovery, OpenAPI, tables and validation all derive from one registry of resources; so do
ours. Built-ins are limited to what the operator's world touches: Namespaces, Events (core v1 and
events.k8s.io/v1 sharing one storage, as in a real cluster) and CustomResourceDefinitions themselves (kopf
watches them to notice new resources). Everything else comes from CRDs, including kopf's peering resources,
whose CRDs ship next to this module.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from .schema import SchemaError, StructuralSchema

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
PEERING_CRDS = pathlib.Path(__file__).parent / "crds"

Converter = Callable[[dict[str, Any]], dict[str, Any]]


def _identity(obj: dict[str, Any]) -> dict[str, Any]:
    return obj


@dataclass(eq=False)
class Resource:
    """One served group/version/plural, with everything the server needs to know about it."""

    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    subresources: frozenset[str] = frozenset()
    schema: StructuralSchema | None = None
    raw_schema: dict[str, Any] | None = None
    printer_columns: list[dict[str, Any]] = field(default_factory=list)
    selectable_fields: list[str] = field(default_factory=list)
    custom: bool = False  # served from a CRD: schema applies, strategic merge is refused, generation is kept
    storage: str = ""  # objects of resources with the same storage key are the same objects
    field_labels: frozenset[str] = frozenset({"metadata.name", "metadata.namespace"})
    to_storage: Converter = _identity
    from_storage: Converter = _identity
    crd_name: str = ""
    storage_api_version: str = ""  # CRD objects are stored in the storage version whatever version wrote them
    delete_returns_status: bool = (
        False  # most built-ins answer a DELETE with Status Success, CRs with the object
    )

    def __post_init__(self) -> None:
        if not self.storage:
            self.storage = f"{self.plural}.{self.group}" if self.group else self.plural
        if not self.storage_api_version:
            self.storage_api_version = self.api_version

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def has_generation(self) -> bool:
        return self.custom

    @property
    def verbs(self) -> list[str]:
        return list(ALL_VERBS)

    def key(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)

    def describe(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def render(self, stored: dict[str, Any]) -> dict[str, Any]:
        """The stored object as this group/version shows it."""
        obj = self.from_storage(stored)
        if obj.get("apiVersion") != self.api_version or obj.get("kind") != self.kind:
            obj = {**obj, "apiVersion": self.api_version, "kind": self.kind}
        return obj


class Registry:
    """All served resources, in registration order (which discovery and OpenAPI keep)."""

    def __init__(self) -> None:
        self._resources: dict[tuple[str, str, str], Resource] = {}
        self.crds: dict[str, dict[str, Any]] = {}  # name -> CRD object, as loaded
        self.revision = 0  # bumped on every change, so derived documents (OpenAPI) can be cached

    def add(self, resource: Resource) -> None:
        self._resources[resource.key()] = resource
        self.revision += 1

    def find(self, group: str, version: str, plural: str) -> Resource | None:
        return self._resources.get((group, version, plural))

    def find_kind(self, api_version: str, kind: str) -> Resource | None:
        for res in self._resources.values():
            if res.api_version == api_version and res.kind == kind:
                return res
        return None

    def __iter__(self):
        return iter(list(self._resources.values()))

    def groups(self) -> dict[str, list[str]]:
        """group -> versions, preferred (first registered) first; the core group is ''."""
        result: dict[str, list[str]] = {}
        for res in self._resources.values():
            versions = result.setdefault(res.group, [])
            if res.version not in versions:
                versions.append(res.version)
        return result

    def in_version(self, group: str, version: str) -> list[Resource]:
        return [r for r in self._resources.values() if r.group == group and r.version == version]

    def add_crd(self, crd: dict[str, Any]) -> list[Resource]:
        """Register every served version of a CRD; raises `SchemaError` if the emulator cannot honour it."""
        resources = resources_from_crd(crd)
        self.remove_crd(crd["metadata"]["name"])
        for res in resources:
            clash = self.find(*res.key())
            if clash is not None and clash.crd_name != res.crd_name:
                raise SchemaError(f"{res.describe()}/{res.version} is already served")
        for res in resources:
            self.add(res)
        self.crds[crd["metadata"]["name"]] = crd
        return resources

    def remove_crd(self, name: str) -> list[Resource]:
        gone = [r for r in self._resources.values() if r.crd_name == name]
        for res in gone:
            del self._resources[res.key()]
        self.crds.pop(name, None)
        self.revision += 1
        return gone


# libyaml's loader is ~10x faster than the pure-Python one; CRDs are read at every emulator start.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml_documents(paths: Iterable[str | pathlib.Path]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            docs += [d for d in yaml.load_all(fh, Loader=_YAML_LOADER) if d]
    return docs


def resources_from_crd(crd: dict[str, Any]) -> list[Resource]:
    if crd.get("kind") != "CustomResourceDefinition":
        raise SchemaError(f"not a CustomResourceDefinition: kind={crd.get('kind')!r}")
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not (group and plural and kind):
        raise SchemaError("a CRD needs spec.group, spec.names.plural and spec.names.kind")
    name = (crd.get("metadata") or {}).get("name")
    if name != f"{plural}.{group}":
        raise SchemaError(f'metadata.name must be spec.names.plural+"."+spec.group: {name!r}')
    scope = spec.get("scope")
    if scope not in ("Namespaced", "Cluster"):
        raise SchemaError(f"spec.scope must be Namespaced or Cluster, not {scope!r}")
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    if not versions:
        raise SchemaError("a CRD needs at least one served version")
    storage_versions = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
    if len(storage_versions) != 1:
        raise SchemaError("a CRD needs exactly one storage version")
    # The storage version is preferred only if nothing better is served; kubectl picks the first listed.
    resources = []
    for v in versions:
        raw_schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or None
        if raw_schema is None:
            raise SchemaError(
                f"version {v['name']}: schema.openAPIV3Schema is required in apiextensions.k8s.io/v1"
            )
        subresources = frozenset((v.get("subresources") or {}).keys())
        selectable = [f["jsonPath"].lstrip(".") for f in v.get("selectableFields") or []]
        resources.append(
            Resource(
                group=group,
                version=v["name"],
                plural=plural,
                kind=kind,
                singular=names.get("singular") or kind.lower(),
                namespaced=scope == "Namespaced",
                short_names=list(names.get("shortNames") or []),
                categories=list(names.get("categories") or []),
                subresources=subresources,
                schema=StructuralSchema(raw_schema),
                raw_schema=raw_schema,
                printer_columns=list(v.get("additionalPrinterColumns") or []),
                selectable_fields=selectable,
                custom=True,
                field_labels=frozenset({"metadata.name", "metadata.namespace", *selectable}),
                crd_name=name,
                storage_api_version=f"{group}/{storage_versions[0]}",
            )
        )
    return resources


def established(crd: dict[str, Any], when: str) -> dict[str, Any]:
    """The status a real server gives an accepted CRD (kubectl wait --for=condition=Established uses it)."""
    spec = crd["spec"]
    conditions = [
        {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": when}
        for t, r, m in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    crd["status"] = {
        "acceptedNames": dict(spec.get("names") or {}),
        "conditions": conditions,
        "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
    }
    return crd


# --- built-ins ---------------------------------------------------------------------------------------------

# Core Event <-> events.k8s.io/v1 Event field names; both APIs read and write the same stored objects.
_EVENT_RENAMES = (
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
)


def _core_to_events_v1(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    for core, new in _EVENT_RENAMES:
        if core in out:
            out[new] = out.pop(core)
    return out


def _events_v1_to_core(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    for core, new in _EVENT_RENAMES:
        if new in out:
            out[core] = out.pop(new)
    out["apiVersion"] = "v1"
    return out


EVENT_FIELDS = frozenset(
    {
        "metadata.name",
        "metadata.namespace",
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    }
)


def builtin_resources() -> list[Resource]:
    namespaces = Resource(
        group="",
        version="v1",
        plural="namespaces",
        kind="Namespace",
        singular="namespace",
        namespaced=False,
        short_names=["ns"],
        subresources=frozenset({"status", "finalize"}),
        field_labels=frozenset({"metadata.name", "status.phase"}),
    )
    core_events = Resource(
        group="",
        version="v1",
        plural="events",
        kind="Event",
        singular="event",
        namespaced=True,
        short_names=["ev"],
        storage="events",
        field_labels=EVENT_FIELDS,
        delete_returns_status=True,
    )
    events_v1 = Resource(
        group="events.k8s.io",
        version="v1",
        plural="events",
        kind="Event",
        singular="event",
        namespaced=True,
        short_names=["ev"],
        storage="events",
        field_labels=EVENT_FIELDS
        | {"regarding." + f.split(".", 1)[1] for f in EVENT_FIELDS if f.startswith("involvedObject.")}
        | {"reportingController", "deprecatedSource"},
        to_storage=_events_v1_to_core,
        from_storage=_core_to_events_v1,
        delete_returns_status=True,
    )
    crds = Resource(
        group="apiextensions.k8s.io",
        version="v1",
        plural="customresourcedefinitions",
        kind="CustomResourceDefinition",
        singular="customresourcedefinition",
        namespaced=False,
        short_names=["crd", "crds"],
        categories=["api-extensions"],
        subresources=frozenset({"status"}),
    )
    return [namespaces, core_events, events_v1, crds]


def peering_crds() -> list[dict[str, Any]]:
    """kopf's ClusterKopfPeering and KopfPeering CRDs, as kopf's own peering.yaml defines them."""
    return load_yaml_documents(sorted(PEERING_CRDS.glob("*.yaml")))
