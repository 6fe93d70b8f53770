"""The trimmed service models (aws/models.py): they hold every operation the code calls and nothing else, and the
trimming keeps exactly the shapes those operations reach."""

from __future__ import annotations

import json
import os
import stat

import pytest
from botocore import xform_name
from botocore.loaders import Loader

from odm_operator.aws.clients import make_clients
from odm_operator.aws.models import OPERATIONS, prepared_models, trim

from .test_iam_policy import code_calls


def test_the_trimmed_models_hold_exactly_the_operations_the_code_calls():
    called: dict[str, set[str]] = {}
    for call in code_calls():
        called.setdefault(call.service, set()).add(call.operation)
    assert {service: set(ops) for service, ops in OPERATIONS.items()} == called


def test_clients_have_the_kept_operations_only():
    clients = make_clients("us-east-1")
    for service, operations in OPERATIONS.items():
        client = getattr(clients, service)
        for operation in operations:
            assert callable(getattr(client, xform_name(operation)))
        assert client.meta.service_model.operation_names == sorted(operations)
    assert not hasattr(clients.ec2, "run_instances")


MODEL = {
    "version": "2.0",
    "metadata": {"serviceId": "Demo"},
    "documentation": "the service",
    "operations": {
        "Run": {
            "name": "Run",
            "input": {"shape": "RunRequest"},
            "output": {"shape": "RunResponse"},
            "errors": [{"shape": "Throttled"}],
            "documentation": "runs",
        },
        "Other": {"name": "Other", "input": {"shape": "OtherRequest"}},
    },
    "shapes": {
        "RunRequest": {
            "type": "structure",
            "members": {
                "tags": {"shape": "TagMap", "documentation": "tags"},
                "items": {"shape": "ItemList"},
                "shape": {"shape": "Named"},  # a member that is itself called "shape"
            },
        },
        "TagMap": {"type": "map", "key": {"shape": "Key"}, "value": {"shape": "Value"}},
        "ItemList": {"type": "list", "member": {"shape": "Item"}},
        "Item": {"type": "string"},
        "Key": {"type": "string"},
        "Value": {"type": "string"},
        "Named": {"type": "string"},
        "RunResponse": {"type": "structure", "members": {}},
        "Throttled": {"type": "structure", "members": {}, "exception": True},
        "OtherRequest": {"type": "structure", "members": {"x": {"shape": "OnlyOther"}}},
        "OnlyOther": {"type": "string", "documentation": "unreached"},
    },
}


@pytest.mark.parametrize(
    ("operations", "shapes"),
    [
        (
            {"Run"},
            {"RunRequest", "TagMap", "ItemList", "Item", "Key", "Value", "Named", "RunResponse", "Throttled"},
        ),
        ({"Other"}, {"OtherRequest", "OnlyOther"}),
        (set(), set()),
    ],
)
def test_trim_keeps_the_operations_and_the_shapes_they_reach(operations, shapes):
    trimmed = trim(MODEL, frozenset(operations))
    assert set(trimmed["operations"]) == operations
    assert set(trimmed["shapes"]) == shapes
    assert trimmed["metadata"] == MODEL["metadata"] and "documentation" not in trimmed
    assert "documentation" not in str(trimmed)


def test_trim_names_an_operation_the_model_lacks():
    with pytest.raises(KeyError, match="Demo has no operation Missing"):
        trim(MODEL, frozenset({"Run", "Missing"}))


def test_a_child_process_writes_the_trimmed_models_once_into_a_private_directory(tmp_path):
    folder = prepared_models(tmp_path)
    assert folder is not None and (folder / "complete").exists()
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    loader = Loader()
    for service, operations in OPERATIONS.items():
        version = loader.determine_latest_version(service, "service-2")
        written = json.loads((folder / service / version / "service-2.json").read_text())
        assert written == trim(loader.load_service_model(service, "service-2"), operations)
    stamp = (folder / "complete").stat().st_mtime_ns
    assert prepared_models(tmp_path) == folder and (folder / "complete").stat().st_mtime_ns == stamp


def test_a_models_directory_others_can_write_to_is_not_used(tmp_path):
    base = tmp_path / f"odm-operator-models-{os.getuid()}"
    base.mkdir(mode=0o777)
    base.chmod(0o777)
    assert prepared_models(tmp_path) is None
    assert list(base.iterdir()) == []
