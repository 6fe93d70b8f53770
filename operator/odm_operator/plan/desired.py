"""Spec + settings -> the ECS work an ODMJob needs: task definition, capacity and the RunTask request.

Pure: the output is plain request dicts that botocore accepts as they are (a test runs botocore's own parameter
validation on them). The task definition family is a hash of its canonical body, so jobs that differ only in
S3 URIs or ODM options (which travel in containerOverrides) share one family, and a changed body never reuses a
family name.
"""

from __future__ import annotations

import json
from typing import Any

from .. import contract
from ..api.quantity import to_cpu_units, to_gib, to_mib
from ..api.types import ODMJobSpec
from ..settings import Settings
from .managed_capacity import ONE_TASK_PER_INSTANCE, managed_capacity
from .odm_command import ENV_ARCHIVE_PATHS, STAGE_IN_SCRIPT, STAGE_OUT_SCRIPT, odm_argv, odm_environment
from .sizing import size_for
from .split_merge import sm_cluster_url
from .tags import content_hash, resource_tags
from .types import DesiredCapacity, DesiredJob, JobRef, TaskSize

# ECS caps the JSON of RunTask overrides at 8192 characters (botocore ECS model, RunTask.overrides: "A total of
# 8192 characters are allowed for overrides").
MAX_OVERRIDES_CHARS = 8192
# Soft memory for the two staging containers; the odm container gets the rest of the task's memory.
STAGE_MEMORY_MIB = 256
# EC2 root volume: the AL2023 ECS AMI ships 30 GiB holding the OS and Docker's data; the job's disk comes on top
# (EC2_BASE_DISK_GIB, defined with the disk bound it implies in api/validation.py).
# Default disk when a job gives resources but no disk: four times memory, ODM's usual intermediate footprint.
DISK_PER_MEMORY = 4
FAMILY_PREFIX = "odm-"


def resolve_size(spec: ODMJobSpec, images: int | None = None) -> TaskSize:
    """Resources in ECS units from spec.resources, or from the image count when spec.resources is omitted."""
    fargate = spec.capacity.type == "fargate"
    if spec.resources is not None:
        r = spec.resources
        memory = to_mib(r.memory)
        disk = to_gib(r.disk) if r.disk is not None else None
        return TaskSize(to_cpu_units(r.cpu), memory, r.gpu, disk or _default_disk(memory, fargate))
    split = spec.odm.options.get("split")
    split = int(split) if isinstance(split, int | float) and not isinstance(split, bool) else None
    sizing = size_for(images if images is not None else 0, fargate=fargate, split=split)
    return TaskSize(to_cpu_units(sizing.cpu), to_mib(sizing.memory), 0, to_gib(sizing.disk), sizing)


def _default_disk(memory_mib: int, fargate: bool) -> int:
    gib = max(1, -(-memory_mib * DISK_PER_MEMORY // 1024))
    return min(max(gib, 21), 200) if fargate else gib


def odm_image(spec: ODMJobSpec, settings: Settings, size: TaskSize) -> str:
    image = spec.odm.image or ((settings.odm_gpu_image or "") if size.gpus else settings.odm_image)
    if not image:
        return image  # a GPU job with no pinned GPU image: admission refuses it
    return mirrored(image, settings.image_mirror)


def mirrored(image: str, mirror: str | None) -> str:
    """A Docker Hub image through ``mirror`` (an ECR pull-through cache keeps Docker Hub's paths, official images
    under library/); images of any other registry are left alone."""
    if not mirror:
        return image
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        if first not in ("docker.io", "registry-1.docker.io", "index.docker.io"):
            return image  # another registry (ECR, ECR Public, ghcr.io...)
        image = rest
    path = image if "/" in image else f"library/{image}"
    return f"{mirror.rstrip('/')}/{path}"


def task_definition(spec: ODMJobSpec, settings: Settings, size: TaskSize) -> dict[str, Any]:
    """The RegisterTaskDefinition request, family included (content-addressed)."""
    fargate = spec.capacity.type == "fargate"
    logs = {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": settings.log_group,
            "awslogs-region": settings.region,
            "awslogs-stream-prefix": settings.log_stream_prefix,
        },
    }
    mount = [{"sourceVolume": contract.WORK_VOLUME, "containerPath": contract.DATA_DIR}]
    odm_container: dict[str, Any] = {
        "name": contract.ODM,
        "image": odm_image(spec, settings, size),
        "essential": False,
        "command": ["--project-path", contract.DATA_DIR, contract.PROJECT],
        "environment": odm_environment(),
        "memoryReservation": max(size.memory_mib - 2 * STAGE_MEMORY_MIB, STAGE_MEMORY_MIB),
        "mountPoints": mount,
        "dependsOn": [{"containerName": contract.STAGE_IN, "condition": "SUCCESS"}],
        "logConfiguration": logs,
    }
    if size.gpus:
        odm_container["resourceRequirements"] = [{"type": "GPU", "value": str(size.gpus)}]
    containers = [
        {
            "name": contract.STAGE_IN,
            "image": settings.stage_image,
            "essential": False,
            "entryPoint": ["/bin/sh", "-c"],
            "command": [STAGE_IN_SCRIPT],
            "memoryReservation": STAGE_MEMORY_MIB,
            "mountPoints": mount,
            "logConfiguration": logs,
        },
        odm_container,
        {
            "name": contract.STAGE_OUT,
            "image": settings.stage_image,
            "essential": True,
            "entryPoint": ["/bin/sh", "-c"],
            "command": [STAGE_OUT_SCRIPT],
            "memoryReservation": STAGE_MEMORY_MIB,
            "mountPoints": mount,
            "dependsOn": [{"containerName": contract.ODM, "condition": "COMPLETE"}],
            "logConfiguration": logs,
        },
    ]
    body: dict[str, Any] = {
        "networkMode": "awsvpc" if fargate else "bridge",
        "requiresCompatibilities": ["FARGATE" if fargate else "EC2"],
        "cpu": str(size.cpu_units),
        "memory": str(size.memory_mib),
        "runtimePlatform": {
            "cpuArchitecture": "ARM64" if spec.capacity.architecture == "arm64" else "X86_64",
            "operatingSystemFamily": "LINUX",
        },
        "containerDefinitions": containers,
        # Fargate: a bind mount on the task's ephemeral storage. EC2: a Docker volume scoped to the task, removed
        # when the task stops, so finished jobs do not fill the instance's disk.
        "volumes": [
            {"name": contract.WORK_VOLUME}
            if fargate
            else {
                "name": contract.WORK_VOLUME,
                "dockerVolumeConfiguration": {"scope": "task", "driver": "local"},
            }
        ],
    }
    if fargate and size.disk_gib > 20:
        body["ephemeralStorage"] = {"sizeInGiB": size.disk_gib}
    if settings.task_role_arn:
        body["taskRoleArn"] = settings.task_role_arn
    if settings.execution_role_arn:
        body["executionRoleArn"] = settings.execution_role_arn
    family = FAMILY_PREFIX + content_hash(body)
    return {"family": family, **body, "tags": resource_tags(settings, {})}


def overrides(
    spec: ODMJobSpec, job: JobRef, size: TaskSize | None = None, sm_cluster: str | None = None
) -> dict[str, Any]:
    """RunTask overrides: the per-job values (S3 URIs, ODM options) that keep task definitions shared.

    ``size`` gives ODM's --max-concurrency (the task's vCPUs); without it (measuring the overrides' length
    before the dataset is listed) the size is resolved from the spec alone. ``sm_cluster``: ODM's --sm-cluster
    for distributed split-merge (sm_cluster_for); ``spec.output.archivePaths`` reaches stage-out as
    ODM_ARCHIVE_PATHS."""
    size = size or resolve_size(spec)
    out_env = [{"name": contract.ENV_OUTPUT_URI, "value": spec.output.s3_uri}]
    if spec.output.archive_paths:
        out_env.append({"name": ENV_ARCHIVE_PATHS, "value": " ".join(spec.output.archive_paths)})
    who = {"name": contract.ENV_JOB, "value": f"{job.namespace}/{job.name}"}
    role = {"taskRoleArn": spec.task_role_arn} if spec.task_role_arn else {}
    return {
        **role,
        "containerOverrides": [
            {
                "name": contract.STAGE_IN,
                "environment": [{"name": contract.ENV_INPUT_URI, "value": spec.input.s3_uri}, who],
            },
            {
                "name": contract.ODM,
                "command": odm_argv(spec.odm.options, size.cpu_units // 1024, sm_cluster),
                "environment": [who],
            },
            {
                "name": contract.STAGE_OUT,
                "environment": [*out_env, who],
            },
        ],
    }


def sm_cluster_for(spec: ODMJobSpec, settings: Settings, job: JobRef) -> str | None:
    """The --sm-cluster URL of a distributed split-merge job (None for the others, and when the settings lack
    the gateway: settings_check fails such a job before any RunTask)."""
    if not spec.odm.split_merge.distributed or not settings.split_merge_url or not settings.split_merge_token:
        return None
    return sm_cluster_url(settings.split_merge_url, settings.split_merge_token, job.namespace, job.name)


def overrides_chars(value: dict[str, Any]) -> int:
    """Length of the overrides as ECS counts it (compact JSON)."""
    return len(json.dumps(value, separators=(",", ":")))


def capacity(spec: ODMJobSpec, settings: Settings, size: TaskSize) -> DesiredCapacity:
    cluster = spec.capacity.cluster or settings.cluster
    if spec.capacity.type == "fargate":
        provider = "FARGATE_SPOT" if spec.capacity.spot else "FARGATE"
        return DesiredCapacity(
            "fargate", cluster, [{"capacityProvider": provider, "weight": 1, "base": 0}], provider
        )
    existing = spec.capacity.provider or settings.capacity_provider
    if existing:
        return DesiredCapacity(
            "existing", cluster, [{"capacityProvider": existing, "weight": 1, "base": 0}], existing
        )
    return managed_capacity(spec, settings, size, cluster)


def run_task(
    spec: ODMJobSpec,
    settings: Settings,
    job: JobRef,
    attempt: int,
    task_definition_ref: str,
    cap: DesiredCapacity,
    size: TaskSize | None = None,
) -> dict[str, Any]:
    """The RunTask request for one attempt. clientToken makes a retried call with the same attempt idempotent."""
    request: dict[str, Any] = {
        "cluster": cap.cluster,
        "taskDefinition": task_definition_ref,
        "count": 1,
        "capacityProviderStrategy": cap.strategy,
        "startedBy": contract.started_by(job.uid),
        "clientToken": client_token(job.uid, attempt),
        "overrides": overrides(spec, job, size, sm_cluster_for(spec, settings, job)),
        "enableECSManagedTags": True,
        "tags": resource_tags(
            settings,
            {
                contract.TAG_JOB_NAMESPACE: job.namespace,
                contract.TAG_JOB_NAME: job.name,
                contract.TAG_JOB_UID: job.uid,
                contract.TAG_ATTEMPT: str(attempt),
            },
        ),
    }
    if cap.kind == "managed":
        request["placementConstraints"] = ONE_TASK_PER_INSTANCE
    if spec.capacity.type == "fargate":
        request["platformVersion"] = settings.fargate_platform_version
        request["networkConfiguration"] = {
            "awsvpcConfiguration": {
                "subnets": list(settings.subnets),
                "securityGroups": list(settings.security_groups),
                "assignPublicIp": "ENABLED" if settings.assign_public_ip else "DISABLED",
            }
        }
    return request


def client_token(uid: str, attempt: int) -> str:
    """<= 64 ASCII characters, unique per job and attempt (ECS idempotency scope is the cluster)."""
    return f"{uid}-{attempt}"[:64]


def plan_job(
    spec: ODMJobSpec, settings: Settings, job: JobRef, attempt: int = 1, images: int | None = None
) -> DesiredJob:
    """Everything the operator would send to AWS for one attempt of a job."""
    size = resolve_size(spec, images)
    td = task_definition(spec, settings, size)
    cap = capacity(spec, settings, size)
    rt = run_task(spec, settings, job, attempt, td["family"], cap, size)
    return DesiredJob(td["family"], td, cap, rt)
