"""The shape of the ECS work an ODMJob becomes: names shared by the renderer, the tracker and the sandbox agent.

A task definition has three containers sharing one work volume (DESIGN.md section 3). Per-job values travel in
RunTask ``containerOverrides`` so that jobs with the same image, resources and capacity share a task definition.
"""

from __future__ import annotations

# Container names, in start order.
STAGE_IN = "stage-in"
ODM = "odm"
STAGE_OUT = "stage-out"
CONTAINERS = (STAGE_IN, ODM, STAGE_OUT)

# The shared work volume and where it is mounted; ODM runs with --project-path DATA_DIR and project name PROJECT.
WORK_VOLUME = "work"
DATA_DIR = "/data"
PROJECT = "project"

# Environment variables set per job through containerOverrides.
ENV_INPUT_URI = "ODM_INPUT_S3_URI"  # on stage-in
ENV_OUTPUT_URI = "ODM_OUTPUT_S3_URI"  # on stage-out
ENV_JOB = "ODMJOB"  # on every container: "<namespace>/<name>", for people reading logs

# Tags on every task (and every AWS resource) the operator creates. Keys are ECS-legal (letters, digits, . : / _ - @).
TAG_MANAGED_BY = "odm-operator.io/managed-by"
MANAGED_BY_VALUE = "odm-operator"
TAG_JOB_NAMESPACE = "odm-operator.io/job-namespace"
TAG_JOB_NAME = "odm-operator.io/job-name"
TAG_JOB_UID = "odm-operator.io/job-uid"
TAG_ATTEMPT = "odm-operator.io/attempt"

# RunTask startedBy (<= 128 chars of letters, digits, -, /, _): "odm/<job uid>"; ListTasks(startedBy) finds the
# tasks of one job after an operator restart.
STARTED_BY_PREFIX = "odm/"

# Memory ODM needs by image count (GB), from ODM's installation guide: the smallest row whose count >= images.
ODM_MEMORY_TABLE_GB = ((40, 4), (250, 16), (500, 32), (1500, 64), (2500, 128), (3500, 192), (5000, 256))

# ODM's stages in order and the cumulative progress percent reached when each finishes.
ODM_STAGES = (
    ("dataset", 5),
    ("split", 5),
    ("merge", 5),
    ("opensfm", 25),
    ("openmvs", 50),
    ("odm_filterpoints", 52),
    ("odm_meshing", 60),
    ("mvs_texturing", 70),
    ("odm_georeferencing", 80),
    ("odm_dem", 90),
    ("odm_orthophoto", 98),
    ("odm_report", 99),
    ("odm_postprocess", 100),
)

# What ODM 3.6.0 takes as input (opendm/context.py supported_extensions, supported_video_extensions); a file
# named ``*_mask.*`` is the mask of an image, not an image.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".raw", ".dng", ".nef", ".jxl")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".lrv", ".ts")


def is_odm_input(key: str) -> bool:
    """True when ODM would process this file (an S3 key or a file name) as an image or a video."""
    name = key.rsplit("/", 1)[-1].lower()
    return name.endswith(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS) and "_mask." not in name


def started_by(job_uid: str) -> str:
    return f"{STARTED_BY_PREFIX}{job_uid}"


def odm_memory_gb(images: int) -> int | None:
    """GB of memory ODM needs for ``images`` images; None above the table (the job must be split)."""
    for limit, gb in ODM_MEMORY_TABLE_GB:
        if images <= limit:
            return gb
    return None
