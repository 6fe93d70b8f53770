"""Admission: is this ODMJob acceptable, before any AWS call? Every problem at once, each with its field path.

The API layer checks the object on its own (types, S3 URIs, quantities, Fargate limits, ODM options); this adds
what needs the operator's settings and the planner: the RunTask override size and whether any instance type fits.
``odm-operator validate`` and the operator call the same function.
"""

from __future__ import annotations

from typing import Any

from ..api.quantity import format_mib
from ..api.validation import FieldError, check_object, parse_spec
from ..settings import Settings
from . import instances
from .desired import MAX_OVERRIDES_CHARS, JobRef, fitting_types, overrides, overrides_chars, resolve_size
from .sizing import SizingError

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
    obj: Any, settings: Settings, max_override_chars: int = MAX_OVERRIDES_CHARS
) -> list[FieldError]:
    """Every problem with ``obj``. ``max_override_chars`` is ECS's limit; with today's schema bounds (URIs of
    1024 characters, the option table) the largest possible overrides are ~4800 characters, so the check guards
    against growth of the option table rather than against anything a user can write today."""
    errors = check_object(obj)
    if errors:
        return errors
    spec = parse_spec(obj["spec"])
    meta = obj.get("metadata", {})
    job = JobRef(
        meta.get("namespace", "default"), meta.get("name") or meta.get("generateName", ""), _PLACEHOLDER_UID
    )
    size_chars = overrides_chars(overrides(spec, job))
    if size_chars > max_override_chars:
        errors.append(
            FieldError(
                "spec.odm.options",
                f"the RunTask overrides would be {size_chars} characters; ECS allows {max_override_chars} "
                "(shorten the options or the S3 URIs)",
            )
        )
    gpus = spec.resources.gpu if spec.resources is not None else 0
    if gpus and not spec.odm.image and not settings.odm_gpu_image:
        errors.append(FieldError("spec.odm.image", GPU_IMAGE_NEEDED))
    if spec.capacity.type == "ec2" and spec.resources is not None and not spec.capacity.provider:
        try:
            size = resolve_size(spec)
        except SizingError as exc:  # pragma: no cover - resources are given here
            return [*errors, FieldError("spec.resources", str(exc))]
        given = spec.capacity.instance_types
        if given:
            bad = instances.unfit(list(given), size.cpu_units, size.memory_mib, size.gpus)
            if len(bad) == len(given):
                errors.append(
                    FieldError(
                        "spec.capacity.instanceTypes",
                        f"none of {', '.join(given)} can hold {_describe(size)}; choose larger types "
                        "or smaller spec.resources",
                    )
                )
        elif not fitting_types(spec, size, settings.allowed_instance_families):
            errors.append(
                FieldError(
                    "spec.resources",
                    f"no instance type the operator knows can hold {_describe(size)} "
                    f"({spec.capacity.architecture}); lower the resources or list spec.capacity.instanceTypes",
                )
            )
    return sorted(errors)


def _describe(size: Any) -> str:
    gpu = f", {size.gpus} GPU" if size.gpus else ""
    return f"{size.cpu_units / 1024:g} vCPU, {format_mib(size.memory_mib)}{gpu}"
