"""What an admin allows, checked before any AWS call: a job outside it fails with reason PolicyViolation.

Settings bound cost: whether the operator may create capacity at all, which instance families, how many
instances, Spot and GPUs. Each violation names the spec field and the setting that forbids it.
"""

from __future__ import annotations

from ..api.types import ODMJobSpec
from ..api.validation import FieldError
from ..settings import Settings


def check_policy(spec: ODMJobSpec, settings: Settings) -> list[FieldError]:
    errors: list[FieldError] = []
    capacity = spec.capacity
    if capacity.spot and not settings.spot_allowed:
        errors.append(
            FieldError("spec.capacity.spot", "Spot capacity is not allowed here (setting spotAllowed)")
        )
    if spec.resources is not None and spec.resources.gpu > 0 and not settings.gpu_allowed:
        errors.append(FieldError("spec.resources.gpu", "GPUs are not allowed here (setting gpuAllowed)"))
    if capacity.type != "ec2":
        return errors
    managed = not (capacity.provider or settings.capacity_provider)
    if managed and not settings.manage_capacity:
        errors.append(
            FieldError(
                "spec.capacity.provider",
                "operator-managed EC2 capacity is disabled (setting manageCapacity); name an existing "
                "capacity provider or use capacity.type: fargate",
            )
        )
    if managed and capacity.max_instances > settings.max_instances_ceiling:
        errors.append(
            FieldError(
                "spec.capacity.maxInstances",
                f"at most {settings.max_instances_ceiling} instances are allowed here (setting maxInstancesCeiling)",
            )
        )
    allowed = set(settings.allowed_instance_families)
    if allowed and capacity.instance_types:
        bad = [t for t in capacity.instance_types if t.split(".")[0] not in allowed]
        if bad:
            errors.append(
                FieldError(
                    "spec.capacity.instanceTypes",
                    f"{', '.join(bad)} not allowed; allowed families: {', '.join(sorted(allowed))} "
                    "(setting allowedInstanceFamilies)",
                )
            )
    return errors
