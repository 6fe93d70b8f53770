"""What an admin allows, checked before any AWS call: a job outside it fails with reason PolicyViolation.

Two layers: operator-wide settings that bound cost (whether the operator may create capacity, instance families,
instance count, Spot, GPUs) and per-namespace policies (images, S3 prefixes, task roles, resource ceilings, Spot
and GPU, concurrency). Each violation names the spec field and the rule that forbids it. Concurrency is not a
violation: a job over its namespace's quota waits (see ``quota_wait``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..api.quantity import QuantityError, to_cpu_units, to_mib
from ..api.types import ODMJobSpec
from ..api.validation import FieldError, parse_s3_uri
from ..settings import NamespacePolicy, Settings, policy_for


def check_policy(spec: ODMJobSpec, settings: Settings, namespace: str = "default") -> list[FieldError]:
    errors: list[FieldError] = []
    capacity = spec.capacity
    policy = policy_for(settings, namespace)
    rule = f"policy of namespace {namespace}"
    spot_ok = settings.spot_allowed if policy is None or policy.spot_allowed is None else policy.spot_allowed
    gpu_ok = settings.gpu_allowed if policy is None or policy.gpu_allowed is None else policy.gpu_allowed
    where = "spotAllowed" if policy is None or policy.spot_allowed is None else f"{rule}: spotAllowed"
    if capacity.spot and not spot_ok:
        errors.append(
            FieldError("spec.capacity.spot", f"Spot capacity is not allowed here (setting {where})")
        )
    where = "gpuAllowed" if policy is None or policy.gpu_allowed is None else f"{rule}: gpuAllowed"
    if spec.resources is not None and spec.resources.gpu > 0 and not gpu_ok:
        errors.append(FieldError("spec.resources.gpu", f"GPUs are not allowed here (setting {where})"))
    if policy is not None:
        errors.extend(_namespace_rules(spec, settings, policy, rule))
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


def _namespace_rules(
    spec: ODMJobSpec, settings: Settings, policy: NamespacePolicy, rule: str
) -> list[FieldError]:
    errors: list[FieldError] = []
    gpu = spec.resources.gpu if spec.resources else 0
    image = spec.odm.image or ((settings.odm_gpu_image or "") if gpu else settings.odm_image)
    if policy.allowed_images and not any(fnmatchcase(image, p) for p in policy.allowed_images):
        errors.append(
            FieldError(
                "spec.odm.image",
                f"image {image} is not allowed ({rule}: allowedImages {', '.join(policy.allowed_images)})",
            )
        )
    for side, allowed, name in (
        ("input", policy.allowed_input_prefixes, "allowedInputPrefixes"),
        ("output", policy.allowed_output_prefixes, "allowedOutputPrefixes"),
    ):
        uri = getattr(spec, side).s3_uri
        if allowed and not any(_inside(uri, prefix) for prefix in allowed):
            errors.append(
                FieldError(
                    f"spec.{side}.s3Uri",
                    f"{uri} is outside the allowed prefixes ({rule}: {name} {', '.join(allowed)})",
                )
            )
    role = spec.task_role_arn or settings.task_role_arn or ""
    if policy.allowed_task_roles and not any(fnmatchcase(role, p) for p in policy.allowed_task_roles):
        errors.append(
            FieldError(
                "spec.taskRoleArn",
                f"task role {role or '(none)'} is not allowed ({rule}: allowedTaskRoles "
                f"{', '.join(policy.allowed_task_roles)})",
            )
        )
    if spec.resources is not None:
        errors.extend(_ceilings(spec, policy, rule))
    return errors


def _ceilings(spec: ODMJobSpec, policy: NamespacePolicy, rule: str) -> list[FieldError]:
    assert spec.resources is not None
    errors = []
    try:
        if policy.max_cpu is not None and to_cpu_units(spec.resources.cpu) > to_cpu_units(policy.max_cpu):
            errors.append(
                FieldError("spec.resources.cpu", f"more than {policy.max_cpu} vCPUs ({rule}: maxCpu)")
            )
        if policy.max_memory is not None and to_mib(spec.resources.memory) > to_mib(policy.max_memory):
            errors.append(
                FieldError(
                    "spec.resources.memory", f"more than {policy.max_memory} of memory ({rule}: maxMemory)"
                )
            )
    except QuantityError as exc:  # a malformed ceiling is the admin's error: refuse rather than allow
        errors.append(FieldError("spec.resources", f"{rule} has an invalid ceiling: {exc}"))
    if policy.max_gpu is not None and spec.resources.gpu > policy.max_gpu:
        errors.append(FieldError("spec.resources.gpu", f"more than {policy.max_gpu} GPUs ({rule}: maxGpu)"))
    return errors


def _inside(uri: str, prefix: str) -> bool:
    try:
        target, allowed = parse_s3_uri(uri), parse_s3_uri(prefix)
    except ValueError:
        return False
    return target.normalized.startswith(allowed.normalized)


@dataclass(frozen=True)
class Peer:
    """Another ODMJob in the same namespace, as the quota sees it."""

    name: str
    created: str
    active: bool  # not finished and not suspended
    started: bool  # has had an attempt


def quota_wait(settings: Settings, namespace: str, name: str, created: str, peers: list[Peer]) -> str | None:
    """Why this job must wait for a slot (QuotaExceeded), or None when it may start.

    Jobs start in creation order: a job may start only when the active jobs that are running or older than it
    leave a free slot, so a younger job never overtakes an older waiting one."""
    policy = policy_for(settings, namespace)
    if policy is None or policy.max_concurrent_jobs is None:
        return None
    ahead = [
        p
        for p in peers
        if p.name != name and p.active and (p.started or (p.created, p.name) < (created, name))
    ]
    if len(ahead) < policy.max_concurrent_jobs:
        return None
    running = sum(1 for p in ahead if p.started)
    return (
        f"{running} jobs running and {len(ahead) - running} older jobs waiting in namespace {namespace}; at most "
        f"{policy.max_concurrent_jobs} may run at once (policy maxConcurrentJobs): this job starts when a slot frees"
    )
