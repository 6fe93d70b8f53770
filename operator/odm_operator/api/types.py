"""Pydantic models of the ODMJob resource, odm-operator.io/v1alpha1 (DESIGN.md section 2).

camelCase on the wire, ``extra="forbid"`` on every spec model, and a description on every field: the CRD's
openAPIV3Schema is generated from these models, so ``kubectl explain odmjob.spec.resources`` reads these texts.
Constraints that belong to one field (enums, bounds, patterns) live here and reach the CRD; rules that span
fields live in ``validation.py``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic.alias_generators import to_camel

from .quantity import QUANTITY_PATTERN, parse_quantity


def _quantity(value: Any) -> int | str:
    parse_quantity(value)  # raises QuantityError (a ValueError) naming what is allowed
    return value


# A quantity is an integer or a Kubernetes quantity string, exactly as the API server accepts it. Kept as written
# (no normalising echo into spec); quantity.py turns it into numbers for the planner.
Quantity = Annotated[
    int | str,
    PlainValidator(_quantity),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string", "pattern": QUANTITY_PATTERN}]}),
]

# s3://bucket[/prefix]; bucket naming rules are checked (with a precise message) in validation.py.
S3_URI_PATTERN = r"^s3://[^/]+(/.*)?$"

CapacityType = Literal["ec2", "fargate"]
Phase = Literal["Pending", "Starting", "Running", "Succeeded", "Failed", "Cancelled", "Suspended"]
FINISHED_PHASES: frozenset[str] = frozenset({"Succeeded", "Failed", "Cancelled"})


class _Spec(BaseModel):
    # strict: "yes" is not a boolean and "3" is not an integer, exactly as the CRD schema says.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True)


class _Status(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class S3Location(_Spec):
    """Where in S3."""

    s3_uri: str = Field(
        description="An S3 prefix, s3://bucket/prefix/. For input: the images (jpg, jpeg, tif, tiff, png, dng) "
        "and the optional gcp_list.txt, geo.txt, image_groups.txt. For output: the products are written under it.",
        pattern=S3_URI_PATTERN,
        max_length=1024,
    )


class SplitMerge(_Spec):
    """How a split dataset (options.split) is processed."""

    distributed: bool = Field(
        False,
        description="true: ODM's distributed split-merge. The operator points ODM's --sm-cluster at its NodeODM "
        "gateway (the splitMergeUrl setting), so ODM sends each submodel there and every submodel runs as an "
        "ODMJob of its own (labelled with this job, on the gateway's capacity) while this task merges. Needs "
        "options.split. false: every submodel runs one after the other inside this job's task.",
    )


class OdmSpec(_Spec):
    """The ODM container: image and command-line options."""

    image: str | None = Field(
        None,
        description="ODM container image. Default: the operator's odmImage setting (odmGpuImage for GPU jobs).",
        min_length=1,
        max_length=255,
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        max_length=100,
        description="ODM command-line options without the leading dashes, e.g. {dsm: true, "
        "orthophoto-resolution: 2, feature-quality: high}. Flags take true/false, others a number or one "
        "of the option's allowed words. Checked by name and type; options that redirect input or output "
        "(project-path, copy-to, gcp, ...) are refused.",
    )
    split_merge: SplitMerge = Field(
        default_factory=SplitMerge, description="Split-merge of large datasets: in this task or distributed."
    )


# A path inside the project folder: no leading '/' or '.' (the API server's patterns are RE2: no lookahead, so
# '..' parts are refused in validation.py).
ARCHIVE_PATH_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._/-]{0,254}$"


class OutputLocation(S3Location):
    """Where the products go, and what all.zip holds."""

    archive_paths: (
        list[
            Annotated[
                str,
                Field(
                    pattern=ARCHIVE_PATH_PATTERN,
                    description="A path relative to the project folder, e.g. odm_dem or opensfm/tracks.csv.",
                ),
            ]
        ]
        | None
    ) = Field(
        None,
        min_length=1,
        max_length=100,
        description="What <output>/all.zip holds (paths relative to the project folder; missing ones are "
        "skipped), as NodeODM's outputs field. Default: NodeODM's list (orthophoto, DEMs, point clouds, "
        "textured model, report, cameras.json, log.json ...).",
    )


class Resources(_Spec):
    """What the job's task gets. Omit the whole block to size it from the dataset."""

    cpu: Quantity = Field(description="vCPUs, e.g. 16 or '500m' (ECS: 0.125 to 192).")
    memory: Quantity = Field(
        description="Memory, e.g. 64Gi (1Gi to 24Ti: ODM plus two 256Mi staging containers; ODM needs ~4Gi per 40 images)."
    )
    gpu: int = Field(0, ge=0, le=16, description="NVIDIA GPUs for the odm container (ec2 capacity only).")
    disk: Quantity | None = Field(
        None,
        description="Scratch disk for the project, e.g. 500Gi. Fargate: 21Gi to 200Gi of ephemeral storage; "
        "ec2: on the root volume of operator-managed instances, on top of 30Gi for the AMI (at most 65506Gi). "
        "Default: sized from memory.",
    )


class Capacity(_Spec):
    """Where the task runs."""

    type: CapacityType = Field(
        "ec2", description="ec2: EC2 instances in an Auto Scaling group (CPU or GPU); fargate: serverless."
    )
    spot: bool = Field(
        False, description="Use Spot capacity (EC2 Spot or FARGATE_SPOT); interruptions are retried."
    )
    instance_types: (
        list[
            Annotated[
                str,
                Field(
                    pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$",
                    description="An EC2 instance type, e.g. r5.4xlarge.",
                ),
            ]
        ]
        | None
    ) = Field(
        None,
        description="EC2 instance types, e.g. [r5.4xlarge, r5a.4xlarge]. Default: derived from resources.",
        min_length=1,
        max_length=20,
    )
    architecture: Literal["x86_64", "arm64"] = Field(
        "x86_64", description="CPU architecture of ec2 instances."
    )
    max_instances: int = Field(10, ge=0, le=1000, description="Upper bound of the Auto Scaling group (ec2).")
    cluster: str | None = Field(
        None,
        description="ECS cluster name. Default: the operator's cluster setting.",
        pattern=r"^[A-Za-z0-9_-]{1,255}$",
    )
    provider: str | None = Field(
        None,
        description="An existing ECS capacity provider to run on, instead of one the operator manages.",
        pattern=r"^[A-Za-z0-9_-]{1,255}$",
    )


class RetryPolicy(_Spec):
    """What to do when an attempt fails."""

    on_out_of_memory: Literal["escalate", "fail"] = Field(
        "escalate",
        description="escalate: retry once with the next memory size up; fail: fail at once.",
    )


class ODMJobSpec(_Spec):
    """One OpenDroneMap run on ECS: images in S3 in, products in S3 out."""

    input: S3Location = Field(description="The S3 prefix holding the images.")
    output: OutputLocation = Field(description="The S3 prefix the products are copied to.")
    odm: OdmSpec = Field(default_factory=OdmSpec, description="The ODM image and options.")
    resources: Resources | None = Field(
        None, description="CPU, memory, GPU and disk. Omitted: sized from the number of images in the input."
    )
    capacity: Capacity = Field(
        default_factory=Capacity, description="Where the task runs: EC2 or Fargate, spot."
    )
    task_role_arn: str | None = Field(
        None,
        description="IAM role the job's containers use (S3 read on the input, write on the output). Default: the "
        "operator's taskRoleArn setting. The namespace's policy may restrict which roles are allowed.",
        pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@/_-]+$",
        max_length=2048,
    )
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy, description="How failures are retried.")
    backoff_limit: int = Field(
        2,
        ge=0,
        le=10,
        description="Retries of retryable failures (spot interruption, capacity, infrastructure).",
    )
    active_deadline_seconds: int | None = Field(
        None,
        ge=60,
        description="Stop the task and fail with reason DeadlineExceeded after this many seconds.",
    )
    ttl_seconds_after_finished: int | None = Field(
        None, ge=0, description="Delete the ODMJob this many seconds after it finished."
    )
    suspend: bool = Field(False, description="true: do not start (or stop the running task); false: run.")


# ----- status -------------------------------------------------------------------------------------------------


class Condition(_Status):
    """A Kubernetes condition: one aspect of the job's state."""

    type: str = Field(
        description="Accepted, CapacityReady, Running, Complete, Failed, Suspended, SpecChangeIgnored, and the "
        "ones GitOps tools read (kstatus): Ready (True only on success), Reconciling (True while under way), "
        "Stalled (True when ended without success)."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the last transition.")
    message: str = Field("", description="Human-readable details.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(None, description="metadata.generation this condition reflects.")


class Progress(_Status):
    """How far ODM is."""

    percent: int = Field(0, ge=0, le=100, description="ODM's cumulative progress, 0 to 100.")
    stage: str = Field("", description="The stage running now (stage-in, an ODM stage, or stage-out).")


class Sizing(_Status):
    """How resources were derived from the dataset when spec.resources was omitted."""

    images: int = Field(description="Images found under the input prefix.")
    bytes: int = Field(description="Total size of those images.")
    rule: str = Field(description="The sizing rule applied, e.g. '<=1500 images -> 64 GiB'.")
    cpu: str | None = Field(None, description="vCPUs chosen.")
    memory: str | None = Field(None, description="Memory chosen.")
    disk: str | None = Field(None, description="Disk chosen.")


class Attempt(_Status):
    """One ECS task run for this job."""

    number: int = Field(description="1 for the first attempt.")
    task_arn: str | None = Field(None, description="The ECS task ARN.")
    started_at: str | None = Field(None, description="When RunTask was accepted (RFC 3339).")
    finished_at: str | None = Field(None, description="When the task stopped (RFC 3339).")
    exit_code: int | None = Field(None, description="Exit code of the container that decided the outcome.")
    stop_code: str | None = Field(
        None, description="ECS stopCode, e.g. EssentialContainerExited, SpotInterruption."
    )
    stopped_reason: str | None = Field(None, description="ECS stoppedReason.")
    memory: str | None = Field(None, description="Memory this attempt ran with.")
    reason: str | None = Field(None, description="Why this attempt ended, as a status reason.")


class AwsStatus(_Status):
    """The AWS resources this job uses."""

    cluster: str | None = Field(None, description="ECS cluster name.")
    task_definition_arn: str | None = Field(None, description="Task definition ARN with revision.")
    capacity_provider: str | None = Field(None, description="Capacity provider the task runs on.")
    task_arn: str | None = Field(None, description="The current attempt's task ARN.")
    last_status: str | None = Field(None, description="ECS lastStatus of that task.")
    log_group: str | None = Field(None, description="CloudWatch Logs group of the job's containers.")
    log_stream: str | None = Field(None, description="CloudWatch Logs stream of the odm container.")


class Outputs(_Status):
    """The products found under the output prefix after success."""

    orthophoto: str | None = Field(None, description="S3 URI of odm_orthophoto/odm_orthophoto.tif.")
    dsm: str | None = Field(None, description="S3 URI of odm_dem/dsm.tif.")
    dtm: str | None = Field(None, description="S3 URI of odm_dem/dtm.tif.")
    point_cloud: str | None = Field(
        None, description="S3 URI of the georeferenced point cloud (laz/las/copc)."
    )
    textured_model: str | None = Field(None, description="S3 URI of the textured model (obj).")
    report: str | None = Field(None, description="S3 URI of odm_report/report.pdf.")
    log: str | None = Field(None, description="S3 URI of log.json.")
    all_zip: str | None = Field(
        None, description="S3 URI of all.zip: every product, laid out as NodeODM's all.zip."
    )
    entwine_point_cloud: str | None = Field(
        None, description="S3 URI of entwine_pointcloud/ept.json (with odm.options pc-ept)."
    )
    tiles: str | None = Field(None, description="S3 URI of the orthophoto_tiles/ folder (with tiles).")
    tiles3d: str | None = Field(
        None, alias="tiles3d", description="S3 URI of the 3d_tiles/ folder (with 3d-tiles)."
    )
    count: int | None = Field(None, description="Number of objects under the output prefix.")
    total_bytes: int | None = Field(None, description="Total size of those objects.")


class ODMJobStatus(_Status):
    """What the operator observed. Written only by the operator."""

    phase: Phase | None = Field(
        None, description="Pending, Starting, Running, Succeeded, Failed, Cancelled, Suspended."
    )
    reason: str | None = Field(None, description="CamelCase reason for the phase, e.g. OutOfMemory.")
    message: str | None = Field(None, description="What happened and what to do, in a sentence.")
    observed_generation: int | None = Field(None, description="metadata.generation the status reflects.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Reconciling, Stalled, Accepted, CapacityReady, Running, ..."
    )
    progress: Progress | None = Field(None, description="ODM stage and percent while running.")
    sizing: Sizing | None = Field(None, description="How resources were derived from the dataset.")
    attempts: list[Attempt] = Field(default_factory=list, description="Every ECS task run for this job.")
    aws: AwsStatus | None = Field(None, description="The AWS resources in use.")
    outputs: Outputs | None = Field(None, description="Product URIs after success.")
    start_time: str | None = Field(None, description="When the first attempt started (RFC 3339).")
    completion_time: str | None = Field(None, description="When the job finished (RFC 3339).")
