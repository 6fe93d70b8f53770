"""What an admin allows, checked before any AWS call: a job outside it fails with reason PolicyViolation.

Closed by default, opened on purpose. Without any setting a job may only use what the operator is configured
with: the configured ODM images, the configured task role, the configured cluster, and capacity the operator
manages itself (or FARGATE / FARGATE_SPOT). Everything else is refused unless a setting opens it: operator-wide
(``allowedImages``, ``allowedProviders``, ``allowedClusters``) or per namespace (``namespacePolicies``: images,
task roles and a default task role, providers, clusters, S3 prefixes, resource ceilings, Spot and GPU,
concurrency). The execution role is never a task role. Operator-wide ceilings bound cost (per-job CPU, memory
and GPU, instances per job). Each violation names the spec field and the setting that would allow it.

Concurrency is not a violation: a job over a namespace's ``maxConcurrentJobs``, the operator-wide
``maxActiveJobs`` or ``maxManagedInstances`` waits in Pending (see ``quota_wait`` and ``operator_wait``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..api.quantity import QuantityError, to_cpu_units, to_mib
from ..api.types import ODMJobSpec
from ..api.validation import FieldError, parse_s3_uri
from ..settings import NamespacePolicy, Settings, policy_for

# Capacity providers every cluster has that the operator may always use (AWS-managed, no instances of anyone's).
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


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
    errors.extend(_image(spec, settings, policy, rule))
    errors.extend(_task_role(spec, settings, policy, rule))
    errors.extend(_cluster(spec, settings, policy, rule))
    errors.extend(_provider(spec, settings, policy, rule))
    errors.extend(_operator_ceilings(spec, settings))
    if policy is not None:
        errors.extend(_namespace_rules(spec, policy, rule))
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
    total = settings.max_managed_instances
    if managed and total is not None and capacity.max_instances > total:
        errors.append(
            FieldError(
                "spec.capacity.maxInstances",
                f"{capacity.max_instances} instances are more than all operator-managed capacity may have "
                f"together ({total}, setting maxManagedInstances)",
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


def with_defaults(spec: ODMJobSpec, settings: Settings, namespace: str) -> ODMJobSpec:
    """The spec as the operator runs it: the namespace's default task role when the job names none, and the
    operator's default deadline when the job sets none. Pure; the stored object is not changed."""
    update: dict[str, object] = {}
    policy = policy_for(settings, namespace)
    if spec.task_role_arn is None and policy is not None and policy.default_task_role_arn:
        update["task_role_arn"] = policy.default_task_role_arn
    if spec.active_deadline_seconds is None and settings.default_active_deadline_seconds:
        update["active_deadline_seconds"] = settings.default_active_deadline_seconds
    return spec.model_copy(update=update) if update else spec


def _matches(value: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(value, p) for p in patterns)


def _image(
    spec: ODMJobSpec, settings: Settings, policy: NamespacePolicy | None, rule: str
) -> list[FieldError]:
    image = spec.odm.image
    if not image or image in (settings.odm_image, settings.odm_gpu_image):
        return []
    if _matches(image, settings.allowed_images):
        if policy is None or not policy.allowed_images or _matches(image, policy.allowed_images):
            return []
        return [
            FieldError(
                "spec.odm.image",
                f"image {image} is not allowed ({rule}: allowedImages {', '.join(policy.allowed_images)})",
            )
        ]
    if policy is not None and _matches(image, policy.allowed_images):
        return []
    opened = ", ".join([*settings.allowed_images, *(policy.allowed_images if policy else [])]) or "none"
    return [
        FieldError(
            "spec.odm.image",
            f"image {image} is not allowed: only the configured "
            f"{' and '.join(i for i in (settings.odm_image, settings.odm_gpu_image) if i)} and images matching the setting allowedImages or the {rule}: "
            f"allowedImages (now: {opened})",
        )
    ]


def _task_role(
    spec: ODMJobSpec, settings: Settings, policy: NamespacePolicy | None, rule: str
) -> list[FieldError]:
    default = policy.default_task_role_arn if policy else None
    patterns = policy.allowed_task_roles if policy else []
    role = spec.task_role_arn or default or settings.task_role_arn or ""
    if settings.execution_role_arn and role == settings.execution_role_arn:
        return [
            FieldError(
                "spec.taskRoleArn",
                f"{role} is the execution role (setting executionRoleArn); it is never allowed as a task role",
            )
        ]
    if default or patterns:  # the namespace has roles of its own: they replace the configured one
        if role == default or _matches(role, patterns):
            return []
    elif role == (settings.task_role_arn or ""):
        return []
    opened = [f"{rule}: defaultTaskRoleArn {default}"] if default else []
    if patterns:
        opened.append(f"{rule}: allowedTaskRoles {', '.join(patterns)}")
    if not default and not patterns:
        opened.append(f"setting taskRoleArn {settings.task_role_arn or '(unset)'}")
    return [
        FieldError(
            "spec.taskRoleArn",
            f"task role {role or '(none)'} is not allowed (allowed: {'; '.join(opened)}; a namespace policy's "
            "defaultTaskRoleArn or allowedTaskRoles opens others)",
        )
    ]


def _cluster(
    spec: ODMJobSpec, settings: Settings, policy: NamespacePolicy | None, rule: str
) -> list[FieldError]:
    cluster = spec.capacity.cluster
    if not cluster or cluster == settings.cluster or cluster in settings.allowed_clusters:
        return []
    if policy is not None and cluster in policy.allowed_clusters:
        return []
    return [
        FieldError(
            "spec.capacity.cluster",
            f"cluster {cluster} is not allowed: only {settings.cluster} (setting cluster) and the clusters in "
            f"the setting allowedClusters or the {rule}: allowedClusters",
        )
    ]


def _provider(
    spec: ODMJobSpec, settings: Settings, policy: NamespacePolicy | None, rule: str
) -> list[FieldError]:
    provider = spec.capacity.provider
    if spec.capacity.type != "ec2" or not provider:
        return []  # fargate, or capacity the operator manages (or the admin's capacityProvider setting)
    if provider == settings.capacity_provider or provider in FARGATE_PROVIDERS:
        return []
    # Patterns, like the other allow lists; an operator-managed odm-* provider is not named by hand: it would
    # get around the instance family, GPU and instance ceilings of the job that made it.
    if _matches(provider, settings.allowed_providers):
        return []
    if policy is not None and _matches(provider, policy.allowed_providers):
        return []
    return [
        FieldError(
            "spec.capacity.provider",
            f"capacity provider {provider} is not allowed: name only providers in the setting allowedProviders "
            f"or the {rule}: allowedProviders (omit it for operator-managed capacity, or use capacity.type: "
            "fargate)",
        )
    ]


def _operator_ceilings(spec: ODMJobSpec, settings: Settings) -> list[FieldError]:
    """Operator-wide per-job ceilings on what spec.resources asks for (sizes derived from the dataset stay within
    ODM's memory table and memoryCeiling)."""
    resources = spec.resources
    if resources is None:
        return []
    errors = []
    try:
        if settings.max_job_cpu is not None and to_cpu_units(resources.cpu) > to_cpu_units(
            settings.max_job_cpu
        ):
            errors.append(
                FieldError(
                    "spec.resources.cpu", f"more than {settings.max_job_cpu} vCPUs (setting maxJobCpu)"
                )
            )
        if settings.max_job_memory is not None and to_mib(resources.memory) > to_mib(settings.max_job_memory):
            errors.append(
                FieldError(
                    "spec.resources.memory",
                    f"more than {settings.max_job_memory} of memory (setting maxJobMemory)",
                )
            )
    except QuantityError as exc:  # a malformed ceiling is the admin's error: refuse rather than allow
        errors.append(FieldError("spec.resources", f"an operator ceiling is invalid: {exc}"))
    if settings.max_job_gpu is not None and resources.gpu > settings.max_job_gpu:
        errors.append(
            FieldError("spec.resources.gpu", f"more than {settings.max_job_gpu} GPUs (setting maxJobGpu)")
        )
    return errors


def _namespace_rules(spec: ODMJobSpec, policy: NamespacePolicy, rule: str) -> list[FieldError]:
    errors: list[FieldError] = []
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
    """Another ODMJob, as the quotas see it."""

    name: str
    created: str
    active: bool  # not finished and not suspended
    started: bool  # has had an attempt
    namespace: str = ""
    instances: int = 0  # spec.capacity.maxInstances when it runs on operator-managed capacity, else 0
    provider: str = ""  # the managed capacity provider it runs on (status.aws.capacityProvider), once known


def _ahead(me: Peer, peers: list[Peer]) -> list[Peer]:
    """Active peers that come before ``me``: started ones whatever their age, and older waiting ones (creation
    order, so a younger job never overtakes an older waiting one)."""
    key = (me.created, me.namespace, me.name)
    return [
        p
        for p in peers
        if (p.namespace, p.name) != (me.namespace, me.name)
        and p.active
        and (p.started or (p.created, p.namespace, p.name) < key)
    ]


def quota_wait(settings: Settings, namespace: str, name: str, created: str, peers: list[Peer]) -> str | None:
    """Why this job must wait for a slot of its namespace's maxConcurrentJobs (QuotaExceeded), or None when it
    may start. ``peers`` are the namespace's jobs."""
    policy = policy_for(settings, namespace)
    if policy is None or policy.max_concurrent_jobs is None:
        return None
    me = Peer(name, created, True, False, namespace)
    ahead = _ahead(me, [p for p in peers if p.namespace in ("", namespace)])
    if len(ahead) < policy.max_concurrent_jobs:
        return None
    running = sum(1 for p in ahead if p.started)
    return (
        f"{running} jobs running and {len(ahead) - running} older jobs waiting in namespace {namespace}; at most "
        f"{policy.max_concurrent_jobs} may run at once (policy maxConcurrentJobs): this job starts when a slot frees"
    )


def operator_wait(settings: Settings, me: Peer, peers: list[Peer]) -> str | None:
    """Why this job must wait for the operator-wide ceilings (QuotaExceeded), or None. ``peers`` are the jobs of
    every namespace (the runtime may leave them out when they cannot reach a ceiling, see ``needs_peers``)."""
    limit = settings.max_active_jobs
    if limit is not None:
        ahead = _ahead(me, peers)
        if len(ahead) >= limit:
            running = sum(1 for p in ahead if p.started)
            return (
                f"{running} jobs running and {len(ahead) - running} older jobs waiting across all namespaces; at "
                f"most {limit} may run at once (setting maxActiveJobs): this job starts when a slot frees"
            )
    total = settings.max_managed_instances
    if total is not None and me.instances:
        in_use: dict[str, int] = {}
        for p in peers:
            if not (p.active and p.started and p.instances) or (p.namespace, p.name) == (
                me.namespace,
                me.name,
            ):
                continue
            # A starting job whose group is not recorded yet counts on its own (conservative: it may share one).
            in_use[p.provider or f"?{p.namespace}/{p.name}"] = p.instances
        if me.provider and me.provider in in_use:
            return None  # shares a group already counted
        used = sum(in_use.values())
        if used + me.instances > total:
            return (
                f"operator-managed capacity in use may reach {used} instances and this job's maxInstances is "
                f"{me.instances}; together at most {total} (setting maxManagedInstances): this job starts when "
                "capacity frees"
            )
    return None


def needs_peers(settings: Settings, me: Peer, known_jobs: int) -> bool:
    """Whether ``operator_wait`` can hold this job back at all, so the runtime gathers every job only then: the
    active-jobs ceiling only binds when more jobs exist than it allows, the instance ceiling only when the jobs'
    maxInstances could add up past it."""
    if settings.max_active_jobs is not None and known_jobs > settings.max_active_jobs:
        return True
    total = settings.max_managed_instances
    # Every job at the per-job ceiling cannot pass the total either: nothing to add up.
    return total is not None and me.instances > 0 and known_jobs * settings.max_instances_ceiling > total
