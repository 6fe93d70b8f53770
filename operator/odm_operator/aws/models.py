"""botocore service models cut down to the operations the operator calls, to keep the process small.

A boto3 client keeps its whole service model in memory, documentation included: EC2's (about 600 operations, of
which the operator calls three) cost ~16 MB of RSS, ECS's ~12 MB, S3's ~6 MB. ``trimmed_loader`` is a botocore
data loader (the documented extension point behind ``AWS_DATA_PATH``) that hands each client a model holding only
the operations in ``OPERATIONS`` and the shapes they reach, without documentation. Nothing else changes: the
endpoint rules, paginators, retry and signing come from botocore as usual. A client has no method for an
operation left out, so a new call fails loudly; tests/unit/test_trimmed_models.py checks that ``OPERATIONS``
holds every operation the code calls (found by the same scan as the IAM policy test).

Reading a full model and trimming it in the operator's own process would leave its memory fragmented (measured:
the five clients cost 36 MB that way, 13 MB from trimmed files), so a child process writes the trimmed models once
per botocore version to a private directory under the temporary directory (an emptyDir in the chart) and the
loader reads them from there. If that fails, the loader trims in process.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import botocore
from botocore.loaders import Loader

log = logging.getLogger(__name__)
# Writing the trimmed models takes about a second; a child that takes this long is stuck.
PREPARE_TIMEOUT_SECONDS = 120

# The API operations each client may call (botocore operation names).
OPERATIONS: dict[str, frozenset[str]] = {
    "ecs": frozenset(
        {
            "CreateCapacityProvider",
            "CreateCluster",
            "DeleteCapacityProvider",
            "DescribeCapacityProviders",
            "DescribeClusters",
            "DescribeTaskDefinition",
            "DescribeTasks",
            "ListTasks",
            "PutClusterCapacityProviders",
            "RegisterTaskDefinition",
            "RunTask",
            "StopTask",
        }
    ),
    "logs": frozenset({"CreateLogGroup", "FilterLogEvents", "PutRetentionPolicy"}),
    "s3": frozenset({"ListObjectsV2"}),
    "ec2": frozenset({"CreateLaunchTemplate", "DeleteLaunchTemplate", "DescribeLaunchTemplates"}),
    "autoscaling": frozenset(
        {
            "CreateAutoScalingGroup",
            "DeleteAutoScalingGroup",
            "DescribeAutoScalingGroups",
            "UpdateAutoScalingGroup",
        }
    ),
    "events": frozenset({"PutRule", "PutTargets"}),
    "sqs": frozenset(
        {"CreateQueue", "DeleteMessageBatch", "GetQueueAttributes", "ReceiveMessage", "SetQueueAttributes"}
    ),
}


def trim(model: dict[str, Any], operations: frozenset[str]) -> dict[str, Any]:
    """``model`` (a botocore service-2 document) with only ``operations`` and the shapes they reach, and no
    documentation. Raises KeyError naming an operation the model does not have."""
    missing = sorted(operations - set(model["operations"]))
    if missing:
        raise KeyError(f"{model['metadata'].get('serviceId')} has no operation {', '.join(missing)}")
    kept_ops = {name: _undocumented(model["operations"][name]) for name in sorted(operations)}
    shapes = model["shapes"]
    reached: set[str] = set()
    todo = [ref for op in kept_ops.values() for ref in _refs(op)]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        todo.extend(_refs(shapes[name]))
    return {
        **{k: v for k, v in model.items() if k not in ("operations", "shapes", "documentation")},
        "operations": kept_ops,
        "shapes": {name: _undocumented(shapes[name]) for name in sorted(reached)},
    }


def _refs(node: Any) -> list[str]:
    """Names of the shapes a node of the model refers to ({"shape": name} anywhere inside it)."""
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key == "shape" and isinstance(value, str):
                found.append(value)
            else:  # a member may itself be named "shape"
                found.extend(_refs(value))
        return found
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _undocumented(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _undocumented(v) for k, v in node.items() if k not in ("documentation", "documentationUrl")
        }
    if isinstance(node, list):
        return [_undocumented(item) for item in node]
    return node


class TrimmedLoader(Loader):
    """botocore's loader, returning trimmed service models for the services in ``OPERATIONS``."""

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        model = super().load_service_model(service_name, type_name, api_version)
        if type_name != "service-2" or service_name not in OPERATIONS:
            return model
        return trim(model, OPERATIONS[service_name])

    def forget_full_models(self) -> None:
        """Drop the loader's cache (it holds the full documents) once the clients exist."""
        self._cache.clear()


def trimmed_loader() -> TrimmedLoader:
    """A loader reading the trimmed model files (written by a child process on first use), else trimming in
    process."""
    prepared = prepared_models()
    return TrimmedLoader(extra_search_paths=[str(prepared)] if prepared else [])


def prepared_models(root: Path | None = None) -> Path | None:
    """The directory of trimmed models for the installed botocore, written by a child process if missing. None
    when it cannot be made or is not private to this user (another user could plant models there)."""
    base = (root or Path(tempfile.gettempdir())) / f"odm-operator-models-{os.getuid()}"
    target = base / f"botocore-{botocore.__version__}"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = base.stat()
        if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
            log.warning("Not using %s for trimmed service models: not private to this user", base)
            return None
        if not (target / "complete").exists():
            subprocess.run(
                [sys.executable, "-m", "odm_operator.aws.models", str(target)],
                check=True,
                capture_output=True,
                timeout=PREPARE_TIMEOUT_SECONDS,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("Writing trimmed service models failed, trimming in process: %s", exc)
        return None
    return target if (target / "complete").exists() else None


def write_models(target: Path) -> None:
    """Write the trimmed model of every service in ``OPERATIONS`` under ``target`` (botocore's data layout:
    <service>/<api version>/service-2.json), atomically: another process writing the same is harmless."""
    loader = Loader()
    staging = target.parent / f".{target.name}.{os.getpid()}"
    for service, operations in OPERATIONS.items():
        version = loader.determine_latest_version(service, "service-2")
        folder = staging / service / version
        folder.mkdir(parents=True)
        model = trim(loader.load_service_model(service, "service-2"), operations)
        (folder / "service-2.json").write_text(json.dumps(model))
    (staging / "complete").write_text("")
    try:
        staging.rename(target)
    except OSError:  # written meanwhile by another process
        shutil.rmtree(staging, ignore_errors=True)


if __name__ == "__main__":
    write_models(Path(sys.argv[1]))
