"""Operator-wide settings: everything an admin configures once, not per job.

Read from the environment with the prefix ``ODM_OPERATOR_`` (lists and maps as JSON), so the same values come
from a Helm chart, a kustomize patch or a shell. ``render --set key=value`` uses the same model, so what is
rendered offline is what the operator would send.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Pinned so a job renders the same task definition family on every operator build (the family is a hash of it).
DEFAULT_ODM_IMAGE = "opendronemap/odm:3.6.0"
# None: ODM publishes its CUDA build only as the moving tag opendronemap/odm:gpu (rebuilt from master on every
# push, its CUDA base and so its driver requirement changing silently; .github/workflows/publish-docker-gpu.yaml),
# so there is no release to pin by default. An admin pins it by digest (odm_gpu_image), or a GPU job names one.
DEFAULT_ODM_GPU_IMAGE: str | None = None
# ODM's moving tags (publish-docker*.yaml): refused for the images the operator picks by default.
MOVING_ODM_TAGS = ("latest", "gpu")
# The AWS CLI v2 image from ECR Public (no Docker Hub pull limits); its entrypoint is `aws`.
DEFAULT_STAGE_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.17.0"


class NamespacePolicy(BaseModel):
    """What jobs in one namespace may do. Empty lists and None mean "no restriction from this policy"."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    allowed_images: list[str] = Field(
        default_factory=list, description="ODM images allowed, as shell patterns, e.g. opendronemap/odm:3.*."
    )
    allowed_input_prefixes: list[str] = Field(
        default_factory=list, description="S3 prefixes jobs may read, e.g. s3://drone-raw/team-a/."
    )
    allowed_output_prefixes: list[str] = Field(
        default_factory=list, description="S3 prefixes jobs may write, e.g. s3://drone-products/team-a/."
    )
    allowed_task_roles: list[str] = Field(
        default_factory=list, description="Task role ARNs jobs may use (shell patterns)."
    )
    max_cpu: str | int | None = Field(None, description="Most vCPUs one job may ask for (a quantity).")
    max_memory: str | int | None = Field(None, description="Most memory one job may ask for (a quantity).")
    max_gpu: int | None = Field(None, ge=0, description="Most GPUs one job may ask for.")
    max_concurrent_jobs: int | None = Field(
        None,
        ge=1,
        description="Jobs that may run at once; the rest wait in Pending (QuotaExceeded), oldest first.",
    )
    spot_allowed: bool | None = Field(None, description="Overrides spotAllowed for this namespace.")
    gpu_allowed: bool | None = Field(None, description="Overrides gpuAllowed for this namespace.")


class Settings(BaseSettings):
    """Operator settings (env prefix ``ODM_OPERATOR_``)."""

    model_config = SettingsConfigDict(env_prefix="ODM_OPERATOR_", extra="forbid", validate_default=True)

    region: str = Field("us-east-1", description="AWS Region the ECS cluster lives in.")
    cluster: str = Field("odm", description="ECS cluster used when a job names none.")
    create_cluster: bool = Field(True, description="Create the ECS cluster when it does not exist.")
    subnets: list[str] = Field(
        default_factory=list,
        description="VPC subnet IDs for awsvpc tasks and for operator-managed instances.",
    )
    security_groups: list[str] = Field(
        default_factory=list, description="Security group IDs for awsvpc tasks."
    )
    assign_public_ip: bool = Field(
        False, description="Give Fargate tasks a public IP (only for subnets without a NAT gateway)."
    )
    task_role_arn: str | None = Field(
        None, description="IAM role the job's containers use (S3 read on inputs, write on outputs)."
    )
    execution_role_arn: str | None = Field(
        None, description="IAM role the ECS agent uses to pull images and write logs."
    )
    instance_profile_arn: str | None = Field(
        None, description="Instance profile for operator-managed EC2 container instances."
    )
    odm_image: str = Field(DEFAULT_ODM_IMAGE, description="ODM image used when a job names none.")
    odm_gpu_image: str | None = Field(
        DEFAULT_ODM_GPU_IMAGE,
        description="ODM CUDA image for GPU jobs that name none, pinned by digest "
        "(opendronemap/odm@sha256:...); none: GPU jobs must name spec.odm.image.",
    )
    stage_image: str = Field(
        DEFAULT_STAGE_IMAGE, description="Image of the stage-in and stage-out containers."
    )
    log_group: str = Field("/odm-operator/jobs", description="CloudWatch Logs group for the job containers.")
    log_stream_prefix: str = Field(
        "odm", description="awslogs stream prefix: streams are prefix/container/task-id."
    )
    capacity_provider: str | None = Field(
        None,
        description="Existing capacity provider used for ec2 jobs that name none (instead of a managed one).",
    )
    manage_capacity: bool = Field(
        True, description="Create launch templates, Auto Scaling groups and capacity providers for ec2 jobs."
    )
    allowed_instance_families: list[str] = Field(
        default_factory=list,
        description="EC2 instance families jobs may use, e.g. [m6i, r6i, g5]; empty allows every family.",
    )
    max_instances_ceiling: int = Field(
        100, ge=0, description="Largest spec.capacity.maxInstances a job may ask for (bounds cost)."
    )
    spot_allowed: bool = Field(True, description="Whether jobs may ask for Spot capacity.")
    gpu_allowed: bool = Field(True, description="Whether jobs may ask for GPUs.")
    capacity_grace_seconds: float = Field(
        3600.0, ge=0, description="Delete managed capacity no ODMJob has referenced for this long."
    )
    memory_ceiling: str = Field(
        "256G", description="Out-of-memory escalation never gives a task more memory than this (a quantity)."
    )
    provisioning_timeout_seconds: float = Field(
        1200.0,
        gt=0,
        description="Fail a job with CapacityUnavailable when its task waits this long for capacity (PROVISIONING).",
    )
    fargate_platform_version: str = Field("1.4.0", description="Fargate platform version (1.4.0 or LATEST).")
    poll_interval_seconds: float = Field(10.0, gt=0, description="How often the shared tracker polls ECS.")
    resync_seconds: float = Field(
        30.0,
        gt=0,
        description="How often every unfinished job is reconciled even without an event (a safety net; task "
        "changes, deadlines, TTL and backoff are acted on as they happen).",
    )
    retry_backoff_seconds: float = Field(
        10.0, ge=0, description="Wait before the first retry of a retryable failure; doubles per retry."
    )
    retry_backoff_max_seconds: float = Field(300.0, ge=0, description="Upper bound of the retry wait.")
    time_scale: float = Field(
        1.0,
        gt=0,
        description="How fast the operator's own clock runs for deadlines, TTL and backoff. 1 against real AWS; "
        "the sandbox sets it to its agent's time scale so that simulated hours pass in seconds.",
    )
    namespace_policies: dict[str, NamespacePolicy] = Field(
        default_factory=dict,
        description='Policies by namespace name; "*" applies to namespaces without their own entry.',
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="Extra tags on every AWS resource the operator creates."
    )
    metrics_port: int = Field(
        8081,
        ge=0,
        le=65535,
        description="Port of the Prometheus metrics endpoint (/metrics); 0 turns it off.",
    )

    @field_validator("odm_image", "odm_gpu_image")
    @classmethod
    def _pinned(cls, image: str | None) -> str | None:
        """The images picked for jobs that name none must not move under them (a release tag or a digest)."""
        if not image or "@sha256:" in image:
            return image
        name, _, tag = image.rpartition(":")
        if not name or "/" in tag or tag in MOVING_ODM_TAGS:
            raise ValueError(
                f"{image!r} is a moving tag; pin a release (opendronemap/odm:3.6.0) or a digest "
                "(opendronemap/odm@sha256:...)"
            )
        return image


def policy_for(settings: Settings, namespace: str) -> NamespacePolicy | None:
    """The namespace's policy, else the "*" policy, else None."""
    return settings.namespace_policies.get(namespace) or settings.namespace_policies.get("*")


def load_settings(overrides: dict[str, str] | None = None) -> Settings:
    """Settings from the environment, with ``overrides`` (field name -> raw string) taking precedence."""
    base = Settings()
    if not overrides:
        return base
    data = base.model_dump()
    for key, raw in overrides.items():
        name = key.replace("-", "_")
        if name not in Settings.model_fields:
            allowed = ", ".join(sorted(Settings.model_fields))
            raise ValueError(f"unknown setting {key!r}; allowed: {allowed}")
        data[name] = raw
    return Settings.model_validate(_coerce(data))


def _coerce(data: dict) -> dict:
    """Parse JSON-looking strings (lists, maps) the way pydantic-settings does for the environment."""
    import json

    out = {}
    for key, value in data.items():
        annotation = str(Settings.model_fields[key].annotation)
        if isinstance(value, str) and ("list" in annotation or "dict" in annotation):
            stripped = value.strip()
            if stripped.startswith(("[", "{")):
                value = json.loads(stripped)
            elif "list" in annotation:
                value = [v.strip() for v in stripped.split(",") if v.strip()]
        out[key] = value
    return out
