"""How a stopped task ended, read from its stopCode and all three containers' exit codes.

The order matters: infrastructure stop codes (a Spot interruption, a failed placement) are judged before exit
codes, because an interrupted ODM also exits non-zero. Then the containers in run order: stage-in failing means
the input, odm 137 means memory, any other odm code means ODM itself, stage-out failing means the upload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .. import contract
from .observed import MISSING, ObservedTask

Kind = Literal["succeeded", "failed", "retryable", "stopped"]

RETRYABLE_STOP_CODES = {
    "SpotInterruption": "the Spot capacity was reclaimed",
    "TerminationNotice": "the instance received a termination notice",
    "InfrastructureHealth": "ECS stopped the task because the underlying infrastructure was unhealthy",
}
# TaskFailedToStart reasons that mean "no capacity right now", not "this task can never start".
CAPACITY_MARKERS = ("NO ACTIVE INSTANCES", "EMPTY CAPACITY PROVIDER", "RESOURCE:", "CAPACITY", "INSUFFICIENT")
# A standalone task on EC2 whose instance went away (an EC2 Spot reclaim among others) stops with this reason and
# without exit codes; draining stops service tasks only ("Container instance draining": standalone tasks "aren't
# affected"), so there is no SpotInterruption stop code on EC2 (unlike Fargate Spot). ECS's stopped-task errors
# page words it "Host EC2 (instance i-1234567890abcdef0) stopped/terminated."
HOST_GONE = re.compile(r"Host EC2 \(instance (i-[0-9a-f]+)\) (stopped|terminated)", re.IGNORECASE)
# An image pull refused for rate limiting (Docker Hub's anonymous limit answers "toomanyrequests"; ECR answers
# "TooManyRequestsException"/"429"): another attempt later, or through the imageMirror setting, can pull it.
PULL_THROTTLED = ("TOOMANYREQUESTS", "TOO MANY REQUESTS", "RATE LIMIT")
OOM_EXIT = 137
# ODM's exit codes (stages/odm_app.py execute: the child's code, with ODM's message for it; config.py: argparse
# exits 2), with the reasons NodeODM gives them (libs/Task.js) and what the user can do.
ODM_EXIT_CODES: dict[int, tuple[str, str]] = {
    1: ("OdmFailed", "ODM could not process the dataset (exit 1): check the images (enough overlap, GPS) "
        "and the odm container's log for the error"),
    2: ("OdmBadArguments", "ODM refused its command line (exit 2): an option or value ODM does not accept; "
        "see the odm container's log for argparse's message"),
    3: ("OdmInstallationIssue", "ODM could not find a program it needs (exit 3): the image in spec.odm.image "
        "is not a complete ODM build"),
    132: ("CpuUnsupported", "ODM hit an illegal instruction (exit 132): the instance's CPU is not supported "
          "by this ODM image; use another instance type or an image built for it"),
    134: ("OdmAborted", "ODM aborted (exit 134), often a failed memory allocation: give "
          "spec.resources.memory more, or lower feature-quality/pc-quality"),
    139: ("OdmCrashed", "ODM crashed (exit 139, segmentation fault), usually on unusual input data; check the "
          "images and the odm container's log"),
}  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    reason: str  # CamelCase status reason
    message: str
    exit_code: int | None = None


def classify(task: ObservedTask, input_uri: str = "", output_uri: str = "", spot: bool = False) -> Outcome:
    """The outcome of a STOPPED (or MISSING) task; ``spot`` when it ran on Spot capacity."""
    code = task.stop_code or ""
    detail = task.stopped_reason or ""
    if task.last_status == MISSING:
        # It may have succeeded or not; running the attempt again is the only way to know the products exist.
        return Outcome("retryable", "TaskMissing", f"{detail}; its outcome is unknown, so the job runs again")
    if code in RETRYABLE_STOP_CODES:
        return Outcome("retryable", code, f"{RETRYABLE_STOP_CODES[code]} ({detail or code})")
    host = HOST_GONE.search(detail)
    unfinished = task.exit_code(contract.ODM) is None and task.exit_code(contract.STAGE_OUT) is None
    if host and unfinished:  # stage-in may have exited 0 before; ODM and stage-out never got to exit
        if spot:
            return Outcome(
                "retryable", "SpotInterruption", f"the Spot instance {host.group(1)} was reclaimed ({detail})"
            )
        return Outcome(
            "retryable", "HostTerminated", f"the instance {host.group(1)} went away under the task ({detail})"
        )
    pull = " ".join([detail, *(c.reason or "" for c in task.containers.values())])
    if "CannotPullContainerError" in pull and any(m in pull.upper() for m in PULL_THROTTLED):
        return Outcome(
            "retryable",
            "ImagePullThrottled",
            f"the registry refused the image pull for rate limiting ({pull.strip()}); a later attempt retries, and the "
            "imageMirror setting can point images at a mirror or an ECR pull-through cache",
        )
    if code == "TaskFailedToStart":
        if any(marker in detail.upper() for marker in CAPACITY_MARKERS):
            return Outcome("retryable", "CapacityUnavailable", f"the task could not be placed: {detail}")
        return Outcome("failed", "TaskFailedToStart", f"ECS could not start the task: {detail or code}")
    if code == "UserInitiated":
        return Outcome("stopped", "Stopped", f"the task was stopped: {detail or 'StopTask'}")
    stage_in = task.exit_code(contract.STAGE_IN)
    odm = task.exit_code(contract.ODM)
    stage_out = task.exit_code(contract.STAGE_OUT)
    if stage_in not in (None, 0):
        why = (
            _container_reason(task, contract.STAGE_IN)
            or f"the input prefix {input_uri} is empty or unreadable"
        )
        return Outcome(
            "failed",
            "InputUnavailable",
            f"stage-in exited {stage_in}: {why}; check the URI and that the task role may read it",
            stage_in,
        )
    if odm == OOM_EXIT:
        return Outcome(
            "failed",
            "OutOfMemory",
            "ODM ran out of memory (exit 137); give spec.resources.memory more, or split the dataset",
            odm,
        )
    if odm not in (None, 0):
        return _odm_failure(odm, task.odm_hint)
    if stage_out not in (None, 0):
        why = _container_reason(task, contract.STAGE_OUT) or f"copying the products to {output_uri} failed"
        return Outcome(
            "failed",
            "OutputUploadFailed",
            f"stage-out exited {stage_out}: {why}; check the bucket exists and the task role may write to it",
            stage_out,
        )
    if odm == 0 and stage_out == 0:
        return Outcome("succeeded", "Succeeded", f"ODM finished and the products are in {output_uri}", 0)
    return Outcome(
        "failed", "TaskStopped", f"the task stopped before ODM finished: {detail or code or 'unknown'}"
    )


def _odm_failure(code: int, hint: str | None) -> Outcome:
    if hint == "disk-full":
        return Outcome(
            "failed",
            "DiskFull",
            f"ODM ran out of disk space (exit {code}, 'No space left on device' in its log): raise "
            "spec.resources.disk, or set odm.options.optimize-disk-space",
            code,
        )
    reason, message = ODM_EXIT_CODES.get(
        code, ("OdmFailed", f"ODM exited {code}; see the odm container's log for the error")
    )
    return Outcome("failed", reason, message, code)


def _container_reason(task: ObservedTask, name: str) -> str:
    state = task.containers.get(name)
    return (state.reason or "").strip() if state else ""
