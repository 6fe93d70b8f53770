"""The PATCH content types an apiserver accepts, applied to a copy of the stored object.

kopf writes finalizers and progress with JSON patches guarded by a `test` of `/metadata/resourceVersion`
(a failed test must answer 422, which kopf takes as "retry later"), and everything else with JSON merge
patches; kubectl uses merge patches for custom resources and strategic merge patches for built-ins. A real
server refuses strategic merge on a custom resource (415), because it has no Go struct tags to merge by.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any

import jsonpatch
import jsonpointer

from . import errors

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY_YAML = "application/apply-patch+yaml"
APPLY_CBOR = "application/apply-patch+cbor"

CUSTOM_RESOURCE_PATCH_TYPES = [JSON_PATCH, MERGE, APPLY_YAML]
BUILTIN_PATCH_TYPES = [JSON_PATCH, MERGE, STRATEGIC, APPLY_YAML]


class PatchFailed(Exception):
    """A JSON patch that cannot apply (failed `test`, missing path): the server answers 422."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge, approximated as a merge patch that understands the `$patch` and `$…` directives.

    Built-ins we serve (Namespace, Event) have no lists merged by key that clients patch, so the merge-patch
    behaviour is what a real server would do for them.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $setElementOrder/..., $retainKeys, $deleteFromPrimitiveList/...: ordering hints
        if value is None:
            result.pop(key, None)
            continue
        merged = strategic_merge_patch(result.get(key), value)
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
    return result


class _ApiServerTest(jsonpatch.TestOperation):
    """`test` as the apiserver's JSON patch library (evanphx/json-patch) does it: a path that does not exist
    equals `null`. Otherwise the library's own, which already compares as JSON does (1 == 1.0, true != 1)."""

    def apply(self, obj: Any) -> Any:
        try:
            self.pointer.resolve(obj)
        except jsonpointer.JsonPointerException:
            if self.operation.get("value") is None:
                return obj
        return super().apply(obj)


class _ApiServerPatch(jsonpatch.JsonPatch):
    operations = MappingProxyType({**jsonpatch.JsonPatch.operations, "test": _ApiServerTest})


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 on a deep copy (the maintained `jsonpatch` library); raises `PatchFailed` on a failed `test` or an
    impossible operation (422), a bad request for a malformed patch (400)."""
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        return _ApiServerPatch(ops).apply(target)
    except jsonpatch.InvalidJsonPatch as exc:  # an unknown op, a missing member: checked before the others
        raise errors.bad_request(f"invalid JSON patch: {exc}") from exc
    except (
        jsonpatch.JsonPatchException,
        jsonpointer.JsonPointerException,
        KeyError,
        IndexError,
        TypeError,
    ) as exc:
        raise PatchFailed(f"the patch cannot apply: {exc}") from exc


def apply_patch(target: dict[str, Any] | None, applied: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply, approximated: create from the applied config, or merge it into the live object.

    A real server tracks field ownership (managedFields) and removes fields a manager stopped applying;
    we keep no ownership, so a field dropped from the applied config stays on the object.
    """
    if target is None:
        return copy.deepcopy(applied)
    return merge_patch(target, applied)
