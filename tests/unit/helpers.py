"""Shared helpers for the unit tests: a valid ODMJob to mutate, and the CRD's schema as a jsonschema validator."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "crds" / "odmjobs.odm-operator.io.yaml"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

BASE: dict[str, Any] = {
    "apiVersion": "odm-operator.io/v1alpha1",
    "kind": "ODMJob",
    "metadata": {"name": "job-1", "namespace": "mapping"},
    "spec": {
        "input": {"s3Uri": "s3://drone-raw/farm/"},
        "output": {"s3Uri": "s3://drone-products/farm/"},
        "resources": {"cpu": 4, "memory": "16Gi"},
        "capacity": {"type": "fargate"},
    },
}


def job(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-path changes applied (``spec__resources__cpu=8``); a value of DELETE removes the key."""
    obj = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        parts = dotted.split("__")
        node = obj
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
    return obj


DELETE = object()


@cache
def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_PATH.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@cache
def strict_schema() -> dict[str, Any]:
    """The CRD schema as the API server applies it under fieldValidation=Strict (kubectl's default): an unknown
    field is an error, not silently pruned."""

    def close(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: close(v) for k, v in node.items()}
            if "properties" in node and "additionalProperties" not in node and node is not None:
                node["additionalProperties"] = False
            return node
        if isinstance(node, list):
            return [close(v) for v in node]
        return node

    schema = close(copy.deepcopy(crd_schema()))
    schema["properties"]["metadata"] = {"type": "object"}
    return schema


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Dotted paths the CRD schema rejects (as the API server would, roughly), via jsonschema."""
    validator = jsonschema.Draft7Validator(strict_schema())
    paths = []
    for error in validator.iter_errors(obj):
        paths.append(".".join(str(p) for p in error.absolute_path))
    return paths


def owned_task(*args: Any, **kwargs: Any) -> Any:
    """An ObservedTask of the job ``uid-1`` (startedBy odm/uid-1), as the planner tables use: a job acts only on
    its own tasks (plan/ownership.py)."""
    from odm_operator.plan.observed import ObservedTask

    kwargs.setdefault("started_by", "odm/uid-1")
    return ObservedTask(*args, **kwargs)
