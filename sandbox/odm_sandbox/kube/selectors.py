"""Label and field selectors, parsed and matched as the apiserver does.

kopf can restrict what it watches by label; kubectl uses `-l` and, for `wait`, `get -w NAME` and `delete
--wait`, a `metadata.name` field selector; `kubectl describe` finds an object's Events with an
`involvedObject.*` field selector. An unsupported field label is an error (400), not an empty match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import errors

Matcher = Callable[[dict[str, Any]], bool]

_SET_OP = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\((.*)\)\s*$")
_BINARY_OP = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_./-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside `( … )`."""
    terms, depth, current = [], 0, []
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def parse_label_selector(selector: str) -> Matcher:
    checks: list[Callable[[dict[str, str]], bool]] = []
    for term in _split_terms(selector):
        if m := _SET_OP.match(term):
            if m.group(1):
                raise errors.bad_request(f"unable to parse requirement: {term!r}")
            key, op = m.group(2), m.group(3)
            values = {v.strip() for v in m.group(4).split(",") if v.strip()}
            if op == "in":
                checks.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif m := _BINARY_OP.match(term):
            key, op, value = m.groups()
            if op == "!=":
                checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                checks.append(lambda labels, k=key, v=value: k in labels and labels[k] == v)
        elif m := _EXISTS.match(term):
            negate, key = m.groups()
            if negate:
                checks.append(lambda labels, k=key: k not in labels)
            else:
                checks.append(lambda labels, k=key: k in labels)
        else:
            raise errors.bad_request(
                f"unable to parse requirement: found '{term.strip()}', expected: selector"
            )

    def matches(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return matches


def field_value(obj: dict[str, Any], path: str) -> str:
    """A field selector compares the string form of a field; absent fields are the empty string."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(selector: str, allowed: frozenset[str]) -> Matcher:
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for term in _split_terms(selector):
        m = re.match(r"^\s*([A-Za-z0-9_.\-/]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise errors.bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        path, op, value = m.groups()
        if path not in allowed:
            raise errors.bad_request(f"field label not supported: {path}")
        if op == "!=":
            checks.append(lambda obj, p=path, v=value: field_value(obj, p) != v)
        else:
            checks.append(lambda obj, p=path, v=value: field_value(obj, p) == v)
    return lambda obj: all(check(obj) for check in checks)


def exact_name(selector: str | None) -> str | None:
    """The name in a `metadata.name=X` field selector, to serve single-object watches in O(1)."""
    if not selector:
        return None
    terms = _split_terms(selector)
    for term in terms:
        m = re.match(r"^\s*metadata\.name\s*(==|=)\s*(.*?)\s*$", term)
        if m:
            return m.group(2)
    return None
