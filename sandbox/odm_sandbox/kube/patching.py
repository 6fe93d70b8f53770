"""The PATCH content types an apiserver accepts, applied to a copy of the stored object.

kopf writes finalizers and progress with JSON patches guarded by a `test` of `/metadata/resourceVersion`
(a failed test must answer 422, which kopf takes as "retry later"), and everything else with JSON merge
patches; kubectl uses merge patches for custom resources and strategic merge patches for built-ins. A real
server refuses strategic merge on a custom resource (415), because it has no Go struct tags to merge by.
"""

from __future__ import annotations

import copy
from typing import Any

from . import errors
from .cel import cel_equal  # JSON equality: 1 == 1.0 but true != 1, as Go's jsonpatch compares

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


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchFailed(f"JSON pointer must start with '/': {pointer!r}")
    return [_unescape(t) for t in pointer[1:].split("/")]


def _parent(doc: Any, pointer: str) -> tuple[Any, str]:
    tokens = _split(pointer)
    if not tokens:
        raise PatchFailed("cannot operate on the document root")
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, pointer)
    return node, tokens[-1]


def _child(node: Any, token: str, pointer: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise PatchFailed(f"doc is missing path: {pointer!r}")
        return node[token]
    if isinstance(node, list):
        index = _index(token, len(node), pointer)
        return node[index]
    raise PatchFailed(f"doc is missing path: {pointer!r}")


def _index(token: str, length: int, pointer: str, *, allow_end: bool = False) -> int:
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchFailed(f"invalid array index {token!r} in {pointer!r}")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise PatchFailed(f"index out of range: {pointer!r}")
    return index


def _get(doc: Any, pointer: str) -> Any:
    node = doc
    for token in _split(pointer):
        node = _child(node, token, pointer)
    return node


def _add(doc: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(token, len(parent), pointer, allow_end=True), value)
    else:
        raise PatchFailed(f"doc is missing path: {pointer!r}")
    return doc


def _remove(doc: Any, pointer: str) -> Any:
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict):
        if token not in parent:
            raise PatchFailed(f"unable to remove nonexistent key: {token}: missing value")
        return parent.pop(token)
    if isinstance(parent, list):
        return parent.pop(_index(token, len(parent), pointer))
    raise PatchFailed(f"doc is missing path: {pointer!r}")


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 on a deep copy; raises `PatchFailed` on a failed `test` or an impossible operation."""
    if not isinstance(ops, list):
        raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise errors.bad_request(f"invalid JSON patch operation: {op!r}")
        kind, path = op["op"], op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)  # must exist
            if path == "":
                doc = copy.deepcopy(op.get("value"))
            else:
                _remove(doc, path)
                doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            value = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            try:
                actual = _get(doc, path)
            except PatchFailed:
                actual = None
                if op.get("value") is not None:
                    raise PatchFailed(f"testing value {path} failed: test failed") from None
            if not cel_equal(actual, op.get("value")):
                raise PatchFailed(f"testing value {path} failed: test failed")
        else:
            raise errors.bad_request(f"Unexpected kind: {kind}")
    return doc


def apply_patch(target: dict[str, Any] | None, applied: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply, approximated: create from the applied config, or merge it into the live object.

    A real server tracks field ownership (managedFields) and removes fields a manager stopped applying;
    we keep no ownership, so a field dropped from the applied config stays on the object.
    """
    if target is None:
        return copy.deepcopy(applied)
    return merge_patch(target, applied)
