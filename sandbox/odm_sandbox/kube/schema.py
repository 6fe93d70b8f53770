"""Structural OpenAPI v3 schemas as the apiserver applies them to custom resources.

On every write of a custom resource the real server, in this order: drops nulls of non-nullable fields, prunes
fields the schema does not declare (or, with `fieldValidation=Strict`, refuses them), applies `default:`s, then
validates against the schema and the CEL rules in `x-kubernetes-validations`. The operator relies on all four:
a bad ODMJob must be refused with the field path in the message; a status field missing from the schema is
silently dropped; defaults appear in what handlers see. So the emulator does the same, with the same messages
(k8s.io/kube-openapi/pkg/validation and apiextensions-apiserver's field-error mapping).

`StructuralSchema` is built once per CRD version; CEL rules are compiled then, so an unsupported rule or a
non-structural schema (e.g. `$ref`) is refused when the CRD is loaded, as a real server refuses such a CRD.

Why not `jsonschema` for the validation part (issue 15's question): pruning, defaulting and dropping nulls are
not JSON Schema and stay here whatever validates; they walk the object with the schema, and the validation
happens in the same walk. What clients and tests read is the apiserver's field errors (`spec.resources.cpu:
Invalid value: "string": ...`, `Unsupported value`, `Required value`, one per field, in kube-openapi's wording
and order), which jsonschema's errors (JSON Schema keywords, its own messages, any order) would have to be
mapped back to, keyword by keyword: the mapping would be about as long as the checks it replaces, for a second
walk of every object. `jsonschema` stays a test dependency, where tests/chart uses it on real JSON Schema.
"""

from __future__ import annotations

import copy
import datetime
import re
from dataclasses import dataclass
from typing import Any

from . import cel, errors
from .errors import FieldError

# ObjectMeta fields a server keeps on a custom resource; anything else under metadata is pruned.
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)

_ROOT_FIELDS = ("apiVersion", "kind", "metadata")

# Keywords a structural schema may use; anything else is refused at load time rather than ignored.
_KNOWN_KEYWORDS = frozenset(
    {
        "type",
        "format",
        "description",
        "title",
        "default",
        "example",
        "nullable",
        "enum",
        "maximum",
        "minimum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "multipleOf",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "externalDocs",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
    }
)


class SchemaError(ValueError):
    """The CRD's schema cannot be served (not structural, or uses something unsupported)."""


@dataclass(frozen=True)
class Rule:
    program: cel.CelProgram
    message: str
    reason: str
    field_path: str


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(expected: str, value: Any) -> bool:
    actual = _json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _number(value: float) -> str:
    """Go's %v for a JSON number: 10, not 10.0."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _parse_date_time(value: str) -> bool:
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in value or "t" in value or " " in value


def _parse_date(value: str) -> bool:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


_FORMATS = {"date-time": _parse_date_time, "date": _parse_date}


class StructuralSchema:
    """One node of a structural schema, with its children and compiled CEL rules."""

    def __init__(self, raw: dict[str, Any], path: str = "") -> None:
        if not isinstance(raw, dict):
            raise SchemaError(f"schema at {path or '<root>'} is not an object")
        unknown = sorted(k for k in raw if k not in _KNOWN_KEYWORDS)
        if unknown:
            raise SchemaError(f"schema at {path or '<root>'} uses unsupported keywords: {', '.join(unknown)}")
        self.raw = raw
        self.type: str | None = raw.get("type")
        self.nullable = bool(raw.get("nullable", False))
        self.preserve_unknown = bool(raw.get("x-kubernetes-preserve-unknown-fields", False))
        self.int_or_string = bool(raw.get("x-kubernetes-int-or-string", False))
        self.embedded = bool(raw.get("x-kubernetes-embedded-resource", False))
        self.list_type = raw.get("x-kubernetes-list-type")
        self.list_map_keys: list[str] = list(raw.get("x-kubernetes-list-map-keys", []))
        self.properties = {
            k: StructuralSchema(v, _join(path, k)) for k, v in raw.get("properties", {}).items()
        }
        additional = raw.get("additionalProperties")
        if additional is False:
            raise SchemaError(f"additionalProperties: false is not allowed in a structural schema at {path}")
        self.additional = StructuralSchema(additional, f"{path}[*]") if isinstance(additional, dict) else None
        self.items = (
            StructuralSchema(raw["items"], f"{path}[*]") if isinstance(raw.get("items"), dict) else None
        )
        self.all_of = [StructuralSchema(s, path) for s in raw.get("allOf", [])]
        self.any_of = [StructuralSchema(s, path) for s in raw.get("anyOf", [])]
        self.one_of = [StructuralSchema(s, path) for s in raw.get("oneOf", [])]
        self.not_ = StructuralSchema(raw["not"], path) if "not" in raw else None
        pattern = raw.get("pattern")
        self.pattern = re.compile(pattern) if pattern is not None else None
        self.rules = [self._compile_rule(r, path) for r in raw.get("x-kubernetes-validations", [])]
        # Structural schemas name a type everywhere except under value-validation junctors.
        untyped = self.type is None and not (self.preserve_unknown or self.int_or_string or path == "")
        if untyped and (self.properties or self.items or self.additional):
            raise SchemaError(f"schema at {path} has properties/items but no type")

    @staticmethod
    def _compile_rule(raw: dict[str, Any], path: str) -> Rule:
        if "messageExpression" in raw:
            raise SchemaError(
                f"messageExpression is not supported by the emulator (rule at {path or '<root>'})"
            )
        try:
            program = cel.compile_rule(raw["rule"])
        except cel.CelError as exc:
            raise SchemaError(f"x-kubernetes-validations rule at {path or '<root>'}: {exc}") from exc
        return Rule(
            program=program,
            message=str(raw.get("message", "")).strip(),
            reason=raw.get("reason", "FieldValueInvalid"),
            field_path=raw.get("fieldPath", ""),
        )

    # --- pruning and defaulting ------------------------------------------------------------------------------

    def prune(self, value: Any, path: str, unknown: list[str], root: bool = False) -> Any:
        """Drop undeclared fields (recording their paths in `unknown`) and nulls of non-nullable fields."""
        if isinstance(value, dict):
            if root or self.embedded:
                result: dict[str, Any] = {}
                for key, sub in value.items():
                    if key in ("apiVersion", "kind"):
                        result[key] = sub
                    elif key == "metadata":
                        result[key] = _prune_metadata(sub, _join(path, key), unknown)
                    elif key in self.properties:
                        self._prune_property(result, key, sub, path, unknown)
                    elif self.preserve_unknown:
                        result[key] = sub
                    else:
                        unknown.append(_join(path, key))
                return result
            if self.properties or not (self.preserve_unknown or self.additional):
                result = {}
                for key, sub in value.items():
                    if key in self.properties:
                        self._prune_property(result, key, sub, path, unknown)
                    elif self.additional is not None:
                        result[key] = self.additional.prune(sub, _join(path, key), unknown)
                    elif self.preserve_unknown:
                        result[key] = sub
                    elif self.type == "object" or self.type is None:
                        unknown.append(_join(path, key))
                    else:
                        return value  # a type error; validation reports it
                return result
            if self.additional is not None:
                return {k: self.additional.prune(v, _join(path, k), unknown) for k, v in value.items()}
            return value
        if isinstance(value, list) and self.items is not None:
            return [self.items.prune(item, f"{path}[{i}]", unknown) for i, item in enumerate(value)]
        return value

    def _prune_property(
        self, result: dict[str, Any], key: str, sub: Any, path: str, unknown: list[str]
    ) -> None:
        child = self.properties[key]
        if sub is None and not child.nullable:
            return  # nulls of non-nullable fields are pruned before defaulting, as the apiserver does
        result[key] = child.prune(sub, _join(path, key), unknown)

    def apply_defaults(self, value: Any) -> Any:
        """Fill in `default:`s top-down (a defaulted parent gets its children's defaults too)."""
        if isinstance(value, dict):
            for key, child in self.properties.items():
                if key not in value and "default" in child.raw:
                    value[key] = copy.deepcopy(child.raw["default"])
                if key in value:
                    value[key] = child.apply_defaults(value[key])
            if self.additional is not None:
                for key in list(value):
                    if key not in self.properties:
                        value[key] = self.additional.apply_defaults(value[key])
        elif isinstance(value, list) and self.items is not None:
            return [self.items.apply_defaults(item) for item in value]
        return value

    # --- validation ----------------------------------------------------------------------------------------

    def validate(self, value: Any, path: str) -> list[FieldError]:
        errs: list[FieldError] = []
        self._validate(value, path, errs)
        return errs

    def _validate(self, value: Any, path: str, errs: list[FieldError]) -> None:
        name = path or "<root>"
        if value is None:
            if not self.nullable and self.type is not None:
                errs.append(
                    errors.type_invalid(path, "null", f'{name} in body must be of type {self.type}: "null"')
                )
            return
        if self.int_or_string:
            if _json_type(value) not in ("integer", "string"):
                actual = _json_type(value)
                msg = f'{name} in body must be of type integer,string: "{actual}"'
                errs.append(errors.type_invalid(path, actual, msg))
                return
        elif self.type is not None and not _type_ok(self.type, value):
            actual = _json_type(value)
            errs.append(
                errors.type_invalid(path, actual, f'{name} in body must be of type {self.type}: "{actual}"')
            )
            return
        if "enum" in self.raw and not any(_json_equal(value, option) for option in self.raw["enum"]):
            errs.append(errors.not_supported(path, value, self.raw["enum"]))
        if isinstance(value, str):
            self._validate_string(value, path, name, errs)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self._validate_number(value, path, name, errs)
        elif isinstance(value, list):
            self._validate_list(value, path, name, errs)
        elif isinstance(value, dict):
            self._validate_object(value, path, name, errs)
        self._validate_junctors(value, path, name, errs)

    def _validate_string(self, value: str, path: str, name: str, errs: list[FieldError]) -> None:
        raw = self.raw
        if "maxLength" in raw and len(value) > raw["maxLength"]:
            errs.append(errors.too_long(path, raw["maxLength"]))
        if "minLength" in raw and len(value) < raw["minLength"]:
            errs.append(
                errors.invalid(
                    path, value, f"{name} in body should be at least {raw['minLength']} chars long"
                )
            )
        if self.pattern is not None and not self.pattern.search(value):
            errs.append(errors.invalid(path, value, f"{name} in body should match '{self.pattern.pattern}'"))
        check = _FORMATS.get(raw.get("format", ""))
        if check is not None and not check(value):
            errs.append(
                errors.invalid(path, value, f'{name} in body must be of type {raw["format"]}: "{value}"')
            )

    def _validate_number(self, value: float, path: str, name: str, errs: list[FieldError]) -> None:
        raw = self.raw
        if "maximum" in raw:
            limit = raw["maximum"]
            if raw.get("exclusiveMaximum") is True and value >= limit:
                errs.append(
                    errors.invalid(path, value, f"{name} in body should be less than {_number(limit)}")
                )
            elif value > limit:
                msg = f"{name} in body should be less than or equal to {_number(limit)}"
                errs.append(errors.invalid(path, value, msg))
        if "minimum" in raw:
            limit = raw["minimum"]
            if raw.get("exclusiveMinimum") is True and value <= limit:
                errs.append(
                    errors.invalid(path, value, f"{name} in body should be greater than {_number(limit)}")
                )
            elif value < limit:
                msg = f"{name} in body should be greater than or equal to {_number(limit)}"
                errs.append(errors.invalid(path, value, msg))
        if "multipleOf" in raw:
            factor = raw["multipleOf"]
            if factor and (value / factor) != int(value / factor):
                errs.append(
                    errors.invalid(path, value, f"{name} in body should be a multiple of {_number(factor)}")
                )

    def _validate_list(self, value: list[Any], path: str, name: str, errs: list[FieldError]) -> None:
        raw = self.raw
        if "maxItems" in raw and len(value) > raw["maxItems"]:
            errs.append(errors.too_many(path, len(value), raw["maxItems"]))
        if "minItems" in raw and len(value) < raw["minItems"]:
            errs.append(
                errors.invalid(path, value, f"{name} in body should have at least {raw['minItems']} items")
            )
        if self.items is not None:
            for i, item in enumerate(value):
                self.items._validate(item, f"{path}[{i}]", errs)
        if self.list_type == "set":
            seen: list[Any] = []
            for i, item in enumerate(value):
                if any(_json_equal(item, other) for other in seen):
                    errs.append(errors.duplicate(f"{path}[{i}]", item))
                seen.append(item)
        elif self.list_type == "map" and self.list_map_keys:
            keys: set[tuple[str, ...]] = set()
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    continue
                key = tuple(repr(item.get(k)) for k in self.list_map_keys)
                if key in keys:
                    dup = {k: item.get(k) for k in self.list_map_keys}
                    errs.append(errors.duplicate(f"{path}[{i}]", dup))
                keys.add(key)

    def _validate_object(self, value: dict[str, Any], path: str, name: str, errs: list[FieldError]) -> None:
        raw = self.raw
        for key in raw.get("required", []):
            if key not in value:
                errs.append(errors.required(_join(path, key)))
        if "maxProperties" in raw and len(value) > raw["maxProperties"]:
            errs.append(errors.too_many(path, len(value), raw["maxProperties"]))
        if "minProperties" in raw and len(value) < raw["minProperties"]:
            msg = f"{name} in body should have at least {raw['minProperties']} properties"
            errs.append(errors.invalid(path, value, msg))
        for key, sub in value.items():
            child = self.properties.get(key)
            if child is not None:
                child._validate(sub, _join(path, key), errs)
            elif self.additional is not None:
                self.additional._validate(sub, _join(path, key), errs)

    def _validate_junctors(self, value: Any, path: str, name: str, errs: list[FieldError]) -> None:
        for sub in self.all_of:
            if sub.validate(value, path):
                errs.append(errors.invalid(path, "", f"{name} in body must validate all the schemas (allOf)"))
                break
        if self.any_of and not any(not sub.validate(value, path) for sub in self.any_of):
            errs.append(errors.invalid(path, "", f"{name} in body must validate at least one schema (anyOf)"))
        if self.one_of and sum(1 for sub in self.one_of if not sub.validate(value, path)) != 1:
            errs.append(
                errors.invalid(path, "", f"{name} in body must validate one and only one schema (oneOf)")
            )
        if self.not_ is not None and not self.not_.validate(value, path):
            errs.append(errors.invalid(path, "", f"{name} in body must not validate the schema (not)"))

    # --- CEL rules -----------------------------------------------------------------------------------------

    def check_rules(self, value: Any, old: Any, path: str) -> list[FieldError]:
        """Evaluate `x-kubernetes-validations`; `old` is `cel.MISSING` on create or where nothing correlates."""
        errs: list[FieldError] = []
        self._check_rules(value, old, path, errs)
        return errs

    def _check_rules(self, value: Any, old: Any, path: str, errs: list[FieldError]) -> None:
        if value is None:
            return
        for rule in self.rules:
            if rule.program.is_transition and old is cel.MISSING:
                continue
            self._run_rule(rule, value, old, path, errs)
        if isinstance(value, dict):
            old_map = old if isinstance(old, dict) else {}
            for key, sub in value.items():
                child = self.properties.get(key) or (self.additional if key not in self.properties else None)
                if child is not None and (child.rules or child._has_nested_rules()):
                    child._check_rules(sub, old_map.get(key, cel.MISSING), _join(path, key), errs)
        elif isinstance(value, list) and self.items is not None and self.items._has_any_rules():
            old_items = self._correlate(value, old)
            for i, item in enumerate(value):
                self.items._check_rules(item, old_items[i], f"{path}[{i}]", errs)

    def _correlate(self, value: list[Any], old: Any) -> list[Any]:
        """Old counterparts of list items: only map-type lists correlate (by their keys), like the apiserver."""
        if self.list_type != "map" or not isinstance(old, list) or not self.list_map_keys:
            return [cel.MISSING] * len(value)
        index = {}
        for item in old:
            if isinstance(item, dict):
                index[tuple(repr(item.get(k)) for k in self.list_map_keys)] = item
        return [
            index.get(tuple(repr(item.get(k)) for k in self.list_map_keys), cel.MISSING)
            if isinstance(item, dict)
            else cel.MISSING
            for item in value
        ]

    def _run_rule(self, rule: Rule, value: Any, old: Any, path: str, errs: list[FieldError]) -> None:
        where = path + rule.field_path if rule.field_path.startswith((".", "[")) else path
        type_name = self.type or ("integer-or-string" if self.int_or_string else "object")
        try:
            ok = rule.program.evaluate(value, old)
        except cel.CelEvalError as exc:
            detail = f"{exc} evaluating rule: {rule.message or rule.program.source}"
            errs.append(errors.invalid(path, type_name, detail))
            return
        if ok:
            return
        message = rule.message or f"failed rule: {rule.program.source}"
        if rule.reason == "FieldValueForbidden":
            errs.append(errors.forbidden(where, message))
        elif rule.reason == "FieldValueRequired":
            errs.append(errors.required(where, message))
        elif rule.reason == "FieldValueDuplicate":
            errs.append(FieldError(where, "Duplicate value", type_name, message))
        else:
            errs.append(errors.invalid(where, type_name, message))

    def _has_nested_rules(self) -> bool:
        cached = getattr(self, "_nested", None)
        if cached is None:
            children = list(self.properties.values())
            children += [c for c in (self.additional, self.items) if c is not None]
            cached = any(c._has_any_rules() for c in children)
            self._nested = cached
        return cached

    def _has_any_rules(self) -> bool:
        return bool(self.rules) or self._has_nested_rules()


def _json_equal(a: Any, b: Any) -> bool:
    return cel.cel_equal(a, b)


def _prune_metadata(value: Any, path: str, unknown: list[str]) -> Any:
    if not isinstance(value, dict):
        return value
    result = {}
    for key, sub in value.items():
        if key in OBJECT_META_FIELDS:
            result[key] = sub
        else:
            unknown.append(_join(path, key))
    return result
