"""Structural schemas: validation messages as the apiserver words them, pruning, defaulting, CEL, load errors."""

from __future__ import annotations

import pytest

from odm_sandbox.kube import cel
from odm_sandbox.kube.resources import resources_from_crd
from odm_sandbox.kube.schema import SchemaError, StructuralSchema

SPEC = StructuralSchema(
    {
        "type": "object",
        "required": ["input"],
        "properties": {
            "input": {
                "type": "object",
                "required": ["s3Uri"],
                "properties": {"s3Uri": {"type": "string", "pattern": "^s3://", "maxLength": 12}},
            },
            "backoffLimit": {"type": "integer", "minimum": 0, "maximum": 10, "default": 2},
            "ratio": {"type": "number", "exclusiveMaximum": True, "maximum": 1},
            "type": {"type": "string", "enum": ["ec2", "fargate"]},
            "cpu": {"x-kubernetes-int-or-string": True},
            "name": {"type": "string", "minLength": 2},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
            "set": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            "options": {"type": "object", "additionalProperties": {"type": "integer"}, "maxProperties": 1},
            "when": {"type": "string", "format": "date-time"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "maybe": {"type": "string", "nullable": True},
            "nested": {
                "type": "object",
                "default": {},
                "properties": {"deep": {"type": "integer", "default": 7}},
            },
        },
    }
)
VALID = {"input": {"s3Uri": "s3://a/"}}

VALIDATION = [
    # (spec, field, message, reason)
    (
        {**VALID, "backoffLimit": 11},
        "spec.backoffLimit",
        "Invalid value: 11: spec.backoffLimit in body should be less than or equal to 10",
        "maximum",
    ),
    (
        {**VALID, "backoffLimit": -1},
        "spec.backoffLimit",
        "Invalid value: -1: spec.backoffLimit in body should be greater than or equal to 0",
        "minimum",
    ),
    (
        {**VALID, "ratio": 1},
        "spec.ratio",
        "Invalid value: 1: spec.ratio in body should be less than 1",
        "exclusive maximum",
    ),
    (
        {**VALID, "backoffLimit": "x"},
        "spec.backoffLimit",
        'Invalid value: "string": spec.backoffLimit in body must be of type integer: "string"',
        "type",
    ),
    (
        {**VALID, "backoffLimit": 1.5},
        "spec.backoffLimit",
        'Invalid value: "number": spec.backoffLimit in body must be of type integer: "number"',
        "a fraction is not an integer",
    ),
    (
        {**VALID, "type": "x"},
        "spec.type",
        'Unsupported value: "x": supported values: "ec2", "fargate"',
        "enum",
    ),
    ({}, "spec.input", "Required value", "required"),
    (
        {"input": {"s3Uri": "http://a"}},
        "spec.input.s3Uri",
        "Invalid value: \"http://a\": spec.input.s3Uri in body should match '^s3://'",
        "pattern",
    ),
    (
        {"input": {"s3Uri": "s3://0123456789"}},
        "spec.input.s3Uri",
        "Too long: may not be more than 12 bytes",
        "maxLength",
    ),
    (
        {**VALID, "name": "a"},
        "spec.name",
        'Invalid value: "a": spec.name in body should be at least 2 chars long',
        "minLength",
    ),
    ({**VALID, "tags": []}, "spec.tags", "spec.tags in body should have at least 1 items", "minItems"),
    ({**VALID, "tags": ["a", "b", "c"]}, "spec.tags", "Too many: 3: must have at most 2 items", "maxItems"),
    ({**VALID, "tags": ["a", 1]}, "spec.tags[1]", 'must be of type string: "integer"', "item type"),
    ({**VALID, "set": ["a", "a"]}, "spec.set[1]", 'Duplicate value: "a"', "list-type set"),
    (
        {**VALID, "options": {"a": "x"}},
        "spec.options.a",
        'must be of type integer: "string"',
        "additionalProperties",
    ),
    (
        {**VALID, "options": {"a": 1, "b": 2}},
        "spec.options",
        "Too many: 2: must have at most 1 item",
        "maxProperties",
    ),
    ({**VALID, "cpu": True}, "spec.cpu", 'must be of type integer,string: "boolean"', "int-or-string"),
    (
        {**VALID, "when": "yesterday"},
        "spec.when",
        'spec.when in body must be of type date-time: "yesterday"',
        "format",
    ),
]


@pytest.mark.parametrize(("spec", "field", "message", "reason"), VALIDATION, ids=[v[3] for v in VALIDATION])
def test_invalid_values_are_reported_with_the_apiservers_path_and_message(spec, field, message, reason):
    errs = SPEC.validate(spec, "spec")
    assert [e.path for e in errs] == [field], reason
    assert message in errs[0].body(), (reason, errs[0].body())


VALID_VALUES = [
    ({**VALID, "cpu": 4}, "int-or-string takes ints"),
    ({**VALID, "cpu": "500m"}, "int-or-string takes strings"),
    ({**VALID, "backoffLimit": 3.0}, "an integral float is an integer"),
    ({**VALID, "ratio": 0}, "an integer is a number"),
    ({**VALID, "maybe": None}, "nullable fields take null"),
    ({**VALID, "free": {"anything": [1, {"x": None}]}}, "preserved fields are not checked"),
    ({**VALID, "when": "2026-01-02T03:04:05Z"}, "RFC 3339 date-time"),
]


@pytest.mark.parametrize(("spec", "reason"), VALID_VALUES, ids=[v[1] for v in VALID_VALUES])
def test_valid_values_pass(spec, reason):
    assert SPEC.validate(spec, "spec") == [], reason


def test_unknown_fields_are_pruned_and_reported_by_path():
    unknown: list[str] = []
    pruned = SPEC.prune(
        {**VALID, "foo": 1, "input": {"s3Uri": "s3://a/", "bar": 2}, "free": {"kept": 1}}, "spec", unknown
    )
    assert pruned == {"input": {"s3Uri": "s3://a/"}, "free": {"kept": 1}}
    assert sorted(unknown) == ["spec.foo", "spec.input.bar"]


def test_root_pruning_keeps_type_meta_and_known_metadata_only():
    root = StructuralSchema({"type": "object", "properties": {"spec": SPEC.raw}})
    unknown: list[str] = []
    obj = {"apiVersion": "v", "kind": "K", "metadata": {"name": "n", "bogus": 1}, "spec": VALID, "extra": 1}
    pruned = root.prune(obj, "", unknown, root=True)
    assert pruned == {"apiVersion": "v", "kind": "K", "metadata": {"name": "n"}, "spec": VALID}
    assert unknown == ["metadata.bogus", "extra"]


def test_nulls_of_non_nullable_fields_are_dropped_before_defaulting():
    unknown: list[str] = []
    pruned = SPEC.prune({**VALID, "backoffLimit": None, "maybe": None}, "spec", unknown)
    assert pruned == {**VALID, "maybe": None}
    assert SPEC.apply_defaults(pruned)["backoffLimit"] == 2


def test_defaults_apply_top_down_including_inside_a_defaulted_parent():
    defaulted = SPEC.apply_defaults({"input": {"s3Uri": "s3://a/"}})
    assert defaulted["backoffLimit"] == 2
    assert defaulted["nested"] == {"deep": 7}


def test_defaults_do_not_override_given_values():
    assert SPEC.apply_defaults({**VALID, "backoffLimit": 5})["backoffLimit"] == 5


IMMUTABLE = StructuralSchema(
    {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [
                    {"rule": "!has(oldSelf.a) || self.a == oldSelf.a", "message": "a is immutable"},
                    {"rule": "!has(self.b) || self.b != 'bad'"},
                    {
                        "rule": "self.c == 1",
                        "reason": "FieldValueForbidden",
                        "fieldPath": ".c",
                        "message": "c must be 1",
                    },
                ],
                "properties": {"a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "integer"}},
            }
        },
    }
)

RULES = [
    ({"spec": {"a": "x", "c": 1}}, cel.MISSING, [], "transition rules are skipped on create"),
    (
        {"spec": {"a": "y", "c": 1}},
        {"spec": {"a": "x", "c": 1}},
        ['spec: Invalid value: "object": a is immutable'],
        "a failing transition rule",
    ),
    (
        {"spec": {"b": "bad", "c": 1}},
        cel.MISSING,
        ["spec: Invalid value: \"object\": failed rule: !has(self.b) || self.b != 'bad'"],
        "a rule without a message",
    ),
    ({"spec": {"c": 2}}, cel.MISSING, ["spec.c: Forbidden: c must be 1"], "reason and fieldPath"),
    (
        {"spec": {"a": "x"}},
        cel.MISSING,
        ['spec: Invalid value: "object": no such key: c evaluating rule: c must be 1'],
        "a runtime error",
    ),
]


@pytest.mark.parametrize(("obj", "old", "messages", "reason"), RULES, ids=[r[3] for r in RULES])
def test_cel_rules_report_like_the_apiserver(obj, old, messages, reason):
    assert [str(e) for e in IMMUTABLE.check_rules(obj, old, "")] == messages, reason


def _crd(schema: dict, **version: object) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Thing", "plural": "things"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    **version,
                }
            ],
        },
    }


BAD_CRDS = [
    (_crd({"type": "object", "x-kubernetes-validations": [{"rule": "self.a.all(x, x)"}]}), "unsupported CEL"),
    (_crd({"type": "object", "properties": {"a": {"$ref": "#/x"}}}), "$ref is not structural"),
    (
        _crd({"type": "object", "properties": {"a": {"properties": {"b": {"type": "string"}}}}}),
        "missing type",
    ),
    (
        _crd({"type": "object", "x-kubernetes-validations": [{"rule": "true", "messageExpression": "'x'"}]}),
        "messageExpression",
    ),
    ({**_crd({"type": "object"}), "metadata": {"name": "wrong"}}, "name is not plural.group"),
]


@pytest.mark.parametrize(("crd", "reason"), BAD_CRDS, ids=[b[1] for b in BAD_CRDS])
def test_crds_the_emulator_cannot_honour_are_refused_at_load_time(crd, reason):
    with pytest.raises(SchemaError):
        resources_from_crd(crd)


def test_a_structural_crd_loads_with_its_names_and_columns():
    (res,) = resources_from_crd(
        _crd({"type": "object"}, additionalPrinterColumns=[{"name": "A", "type": "string", "jsonPath": ".a"}])
    )
    assert (res.group, res.version, res.plural, res.kind, res.namespaced) == (
        "example.com",
        "v1",
        "things",
        "Thing",
        True,
    )
    assert res.printer_columns[0]["name"] == "A"
