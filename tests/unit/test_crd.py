"""The CRD is generated from the models, is structural, teaches through descriptions, and is committed fresh."""

import subprocess
import sys

import jsonschema
import pytest
import yaml

from odm_operator.api.crd import IMMUTABLE_MESSAGE, build_crd, crd_yaml

from .helpers import CRD_PATH, EXAMPLES, crd_schema, schema_errors


def test_the_committed_crd_is_what_the_models_generate():
    assert CRD_PATH.read_text() == crd_yaml(), "crds/ is stale: run `make crd`"


def test_odm_operator_crd_prints_the_committed_file():
    out = subprocess.run(
        [sys.executable, "-m", "odm_operator.cli", "crd"], capture_output=True, text=True, check=True
    ).stdout
    assert out == CRD_PATH.read_text()


def test_the_crd_has_the_status_subresource_short_name_category_and_columns():
    crd = build_crd()
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert crd["spec"]["names"]["shortNames"] == ["odmj"]
    assert crd["spec"]["names"]["categories"] == ["odm"]
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert {"Phase", "Progress", "Reason", "Age"} <= set(columns)


def _walk(node, path="spec"):
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if "items" in node:
        yield from _walk(node["items"], f"{path}[]")


def test_every_spec_and_status_property_has_a_description():
    schema = crd_schema()
    missing = [p for p, n in _walk(schema["properties"]["spec"]) if not n.get("description")]
    missing += [p for p, n in _walk(schema["properties"]["status"], "status") if not n.get("description")]
    assert missing == []


def test_the_schema_is_structural():
    """Every node has a type, except int-or-string and preserve-unknown-fields nodes (apiextensions rules)."""
    untyped = []

    def visit(node, path):
        if not (
            node.get("type")
            or node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        ):
            untyped.append(path)
        for name, child in node.get("properties", {}).items():
            visit(child, f"{path}.{name}")
        if isinstance(node.get("additionalProperties"), dict):
            visit(node["additionalProperties"], f"{path}.*")
        if "items" in node:
            visit(node["items"], f"{path}[]")
        for forbidden in ("$ref", "title", "allOf", "oneOf"):
            assert forbidden not in node, f"{path} has {forbidden}"
        if "properties" in node:
            assert "additionalProperties" not in node, f"{path}: properties and additionalProperties together"

    visit(crd_schema(), "")
    assert untyped == []


def test_spec_is_immutable_except_suspend():
    rules = crd_schema()["properties"]["spec"]["x-kubernetes-validations"]
    assert rules[0]["message"] == IMMUTABLE_MESSAGE
    rule = rules[0]["rule"]
    for field in crd_schema()["properties"]["spec"]["properties"]:
        if field == "suspend":
            assert "self.suspend" not in rule
        else:
            assert f"self.{field} == oldSelf.{field}" in rule


def test_the_status_schema_lists_every_status_field():
    """Without it a real API server prunes status writes silently."""
    status = crd_schema()["properties"]["status"]["properties"]
    for field in (
        "phase",
        "reason",
        "message",
        "observedGeneration",
        "conditions",
        "progress",
        "sizing",
        "attempts",
        "aws",
        "outputs",
        "startTime",
        "completionTime",
    ):
        assert field in status


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_is_valid_against_the_crd_schema(path):
    for doc in yaml.safe_load_all(path.read_text()):
        jsonschema.validate(doc, crd_schema())
        assert schema_errors(doc) == []
