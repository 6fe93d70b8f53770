"""Admission: is this ODMJob acceptable, before any AWS call? Every problem at once, each with its field path.

The API layer checks the object on its own (types, S3 URIs, quantities, Fargate limits, ODM options, GPU and
architecture, disk bounds); this adds what needs the operator's settings and the planner: the RunTask override
size and the instance types (that each exists, matches the architecture, has a GPU when one is asked for, and can
hold the task). ``odm-operator validate``, ``render`` and the operator call the same function.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from ..api import odm_options
from ..api.quantity import format_mib
from ..api.validation import FieldError, check_object, parse_spec
from ..settings import Settings
from . import instances
from .desired import MAX_OVERRIDES_CHARS, JobRef, overrides, overrides_chars, resolve_size
from .instances import fitting_types
from .split_merge import placeholder_url

# ODM publishes its CUDA build only as the moving tag opendronemap/odm:gpu (settings.py), so without an admin's pin
# a GPU job must name its own.
GPU_IMAGE_NEEDED = (
    "a GPU job needs ODM's CUDA image and the operator has none pinned: ODM publishes it only as the moving tag "
    "opendronemap/odm:gpu; name it by digest here (opendronemap/odm@sha256:...), or ask the admin to set "
    "odmGpuImage"
)
# A uid-sized placeholder: the override size must not depend on which uid the server assigns.
_PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"


def check_job(
    obj: Any,
    settings: Settings,
    max_override_chars: int = MAX_OVERRIDES_CHARS,
    known_types: Collection[str] | None = None,
) -> list[FieldError]:
    """Every problem with ``obj``. ``known_types`` is the set of EC2 instance type names (default: botocore's
    EC2 ``InstanceType`` enum, read by aws/catalog.py; a parameter so that this module stays free of botocore).

    Override size: measured with today's schema bounds, the largest overrides a user can write are ~7000
    characters (name 253, namespace 63, two URIs of 1024, a 2048-character role ARN, every option at its
    longest), so the check guards against growth of the option table and against non-ASCII URIs, which count
    as ``\\uXXXX`` escapes here (how ECS counts them is undocumented; the escaped form is the longer one)."""
    errors = check_object(obj)
    if errors:
        return errors
    spec = parse_spec(obj["spec"])
    meta = obj.get("metadata", {})
    job = JobRef(
        meta.get("namespace", "default"), meta.get("name") or meta.get("generateName", ""), _PLACEHOLDER_UID
    )
    sm_cluster = placeholder_url() if spec.odm.split_merge.distributed else None
    size_chars = overrides_chars(overrides(spec, job, sm_cluster=sm_cluster))
    if size_chars > max_override_chars:
        shares = _override_shares(spec, job)
        largest = ", ".join(f"{path} {chars}" for path, chars in shares)
        errors.append(
            FieldError(
                shares[0][0],
                f"the RunTask overrides would be {size_chars} characters; ECS allows {max_override_chars} "
                f"(characters by field: {largest}); shorten the largest",
            )
        )
    gpus = spec.resources.gpu if spec.resources is not None else 0
    if gpus and not spec.odm.image and not settings.odm_gpu_image:
        errors.append(FieldError("spec.odm.image", GPU_IMAGE_NEEDED))
    if spec.capacity.type == "ec2" and not spec.capacity.provider:
        errors.extend(_instance_errors(spec, settings, known_types))
    return sorted(errors)


def _instance_errors(spec: Any, settings: Settings, known_types: Collection[str] | None) -> list[FieldError]:
    size = resolve_size(spec) if spec.resources is not None else None
    arch = spec.capacity.architecture
    given = spec.capacity.instance_types
    if given:
        known = known_types if known_types is not None else _botocore_types()
        cpu, memory, gpus = (size.cpu_units, size.memory_mib, size.gpus) if size else (0, 0, 0)
        by_name = {p.name: p.message for p in instances.problems(list(given), cpu, memory, gpus, arch, known)}
        errors = [
            FieldError(f"spec.capacity.instanceTypes[{i}]", f"{name} {by_name[name]}")
            for i, name in enumerate(given)
            if name in by_name
        ]
        if size is not None and any("too small" in by_name.get(n, "") for n in given):
            errors.append(
                FieldError(
                    "spec.capacity.instanceTypes",
                    f"every listed type must hold {_describe(size)}: ECS managed scaling does not scale out "
                    "for a task the group's smallest type cannot place (it stays in PROVISIONING); remove the "
                    "small types or lower spec.resources",
                )
            )
        return errors
    if size is not None and not fitting_types(spec, size, settings.allowed_instance_families):
        return [
            FieldError(
                "spec.resources",
                f"no instance type the operator knows can hold {_describe(size)} ({arch}); lower the "
                "resources or list spec.capacity.instanceTypes",
            )
        ]
    return []


def _botocore_types() -> Collection[str]:
    from ..aws.catalog import ec2_instance_types  # data from botocore's model, read once

    return ec2_instance_types()


def _override_shares(spec: Any, job: JobRef) -> list[tuple[str, int]]:
    """The fields that make the overrides large, largest first, in characters as counted (escaped JSON)."""
    shares = {
        "metadata.name+namespace": 3 * len(json.dumps(f"{job.namespace}/{job.name}")),
        "spec.input.s3Uri": len(json.dumps(spec.input.s3_uri)),
        "spec.output.s3Uri": len(json.dumps(spec.output.s3_uri)),
        "spec.odm.options": len(json.dumps(odm_options.to_args(spec.odm.options), separators=(",", ":"))),
        "spec.taskRoleArn": len(json.dumps(spec.task_role_arn or "")),
        "spec.output.archivePaths": len(json.dumps(" ".join(spec.output.archive_paths or []))),
    }
    return sorted(shares.items(), key=lambda kv: -kv[1])[:3]


def _describe(size: Any) -> str:
    gpu = f", {size.gpus} GPU" if size.gpus else ""
    return f"{size.cpu_units / 1024:g} vCPU, {format_mib(size.memory_mib)}{gpu}"


def spec_in_effect(
    accepted: Any, errors: list[FieldError], new: Any, new_suspend: bool
) -> tuple[list[FieldError], Any]:
    """The spec a job runs with after a new generation: the spec is immutable once accepted except
    ``spec.suspend`` (the CRD's CEL rule; without it the operator reports the change as SpecChangeIgnored), so a
    job that had an accepted spec keeps it, with only ``suspend`` taken from the new generation; the errors of a
    refused change do not fail the running work. A job never accepted takes the new generation as it is."""
    if accepted is None:
        return errors, new
    return [], accepted.model_copy(update={"suspend": bool(new_suspend)})
