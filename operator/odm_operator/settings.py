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
# How the tracker learns of task changes (settings.tracking): DescribeTasks polls, or ECS's EventBridge events.
TRACKING_MODES = ("poll", "events")


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
    default_task_role_arn: str | None = Field(
        None,
        description="Task role of this namespace's jobs that name none (e.g. a role limited to the team's "
        "prefixes); jobs may also name it.",
    )
    allowed_providers: list[str] = Field(
        default_factory=list,
        description="Existing capacity providers this namespace's jobs may name in spec.capacity.provider, besides "
        "the operator-wide allowedProviders.",
    )
    allowed_clusters: list[str] = Field(
        default_factory=list,
        description="ECS clusters this namespace's jobs may name in spec.capacity.cluster, besides the "
        "operator-wide cluster and allowedClusters.",
    )


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
    image_mirror: str | None = Field(
        None,
        description="Registry prefix that Docker Hub images are pulled through instead of Docker Hub itself (whose "
        "anonymous pulls are rate-limited per IP), e.g. an ECR pull-through cache: "
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub. The execution role then needs ECR pull "
        "permissions (manifests/aws/execution-role-policy.json).",
        pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*$",
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
    aws_retry_limit: int = Field(
        40,
        ge=1,
        description="Passes of a job failed in a row by an AWS error that is retried without counting (throttling, "
        "5xx) before the job fails with AwsUnavailable (never for RunTask, StopTask and ListTasks, which are "
        "retried for as long as it takes); from the third the job shows an AwsRetrying condition.",
    )
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
    tracking: str = Field(
        "poll",
        description="How the tracker learns of task state changes: poll (DescribeTasks every "
        "pollIntervalSeconds) or events (ECS Task State Change events from EventBridge through an SQS queue, "
        "with a DescribeTasks sweep every eventsSweepSeconds as the safety net).",
    )
    events_sweep_seconds: float = Field(
        300.0,
        gt=0,
        description="With tracking: events, how often every active task is described anyway (events lost, "
        "tasks never heard of).",
    )
    events_queue_url: str | None = Field(
        None,
        description="With tracking: events, an existing SQS queue that an EventBridge rule of yours feeds with "
        "the clusters' ECS Task State Change events; the operator then creates neither queue nor rule.",
    )
    events_queue_name: str = Field(
        "odm-operator-task-state",
        pattern=r"^[A-Za-z0-9_-]{1,80}$",
        description="With tracking: events and no eventsQueueUrl, the SQS queue the operator creates.",
    )
    events_rule_name: str = Field(
        "odm-operator-task-state",
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="With tracking: events and no eventsQueueUrl, the EventBridge rule (default bus) the "
        "operator creates and keeps pointed at its clusters.",
    )

    # ----- distributed split-merge (spec.odm.splitMerge.distributed; plan/split_merge.py) -------------------
    split_merge_url: str | None = Field(
        None,
        description="The NodeODM gateway's URL as ECS tasks reach it (an internal load balancer or a Service "
        "exposed inside the VPC), e.g. http://odm-gateway.internal:3000; given to ODM as --sm-cluster. pyodm "
        "uses https only on port 443. Unset: distributed split-merge jobs fail with InvalidConfiguration.",
    )
    split_merge_token: str | None = Field(
        None,
        repr=False,  # a secret: never in a printed or logged Settings
        description="The gateway's token (its ODM_GATEWAY_TOKEN). Never sent to a task: each job gets a token "
        "derived from it (HMAC-SHA256 over the job's namespace and name) that the gateway accepts for that "
        "job's submodel tasks only. The chart takes it from the gateway's Secret when gateway.enabled.",
    )

    @field_validator("tracking")
    @classmethod
    def _tracking(cls, value: str) -> str:
        if value not in TRACKING_MODES:
            raise ValueError(f"tracking must be one of {', '.join(TRACKING_MODES)}, got {value!r}")
        return value

    # ----- closed by default: what a job may reach unless the admin opens it (plan/policy.py) -----------------
    metrics_bind_address: str | None = Field(
        None,
        description="Address the metrics endpoint listens on; unset means 127.0.0.1 (the Helm chart sets the "
        "pod IP, so Prometheus can scrape it).",
    )
    allowed_images: list[str] = Field(
        default_factory=list,
        description="ODM images jobs may name in spec.odm.image besides odmImage and odmGpuImage, as anchored "
        "shell patterns with a registry (e.g. 111122223333.dkr.ecr.eu-west-1.amazonaws.com/odm@sha256:*).",
    )
    allowed_providers: list[str] = Field(
        default_factory=list,
        description="Existing capacity providers jobs may name in spec.capacity.provider (operator-managed "
        "capacity, FARGATE and FARGATE_SPOT need no entry).",
    )
    allowed_clusters: list[str] = Field(
        default_factory=list,
        description="ECS clusters jobs may name in spec.capacity.cluster besides the cluster setting.",
    )
    max_active_jobs: int | None = Field(
        50,
        ge=1,
        description="Jobs that may be starting or running at once across all namespaces; the rest wait in Pending "
        "(QuotaExceeded), oldest first. Unset: no limit.",
    )
    max_managed_instances: int | None = Field(
        50,
        ge=0,
        description="Instances all operator-managed Auto Scaling groups in use may reach together (the sum of "
        "their maxInstances); a job that would pass it waits in Pending (QuotaExceeded). Unset: no limit.",
    )
    max_job_cpu: str | None = Field(
        "64",
        description="Most vCPUs one job may ask for in spec.resources.cpu (a quantity). Unset: no limit.",
    )
    max_job_memory: str | None = Field(
        "256Gi", description="Most memory one job may ask for in spec.resources.memory. Unset: no limit."
    )
    max_job_gpu: int | None = Field(
        1, ge=0, description="Most GPUs one job may ask for in spec.resources.gpu. Unset: no limit."
    )
    default_active_deadline_seconds: int | None = Field(
        172800,
        ge=1,
        description="activeDeadlineSeconds of jobs that set none (48 h by default), so a stuck job cannot run "
        "forever. Unset: no default deadline.",
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
