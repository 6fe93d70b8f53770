"""The launch step, pure: from a Start to RunTask's request, and from RunTask's (or an adoption's) answer to the
status and what to do next.

The runtime gathers the facts (the input prefix's listing when the job is sized from its dataset, RunTask's
answer, the tasks ListTasks found, each AWS error already classified by aws/errors.py) and calls these functions;
every choice about them is made here: the size and its escalation, the failures that end the attempt before any
AWS call (no images, no size, no memory left, ``maxInstances: 0``), which RunTask outcomes are retried, and when
the job waits for a capacity provider slot instead.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import contract
from ..api.quantity import format_mib, to_mib
from ..api.types import ODMJobSpec
from ..settings import Settings
from .attempts import RETRYABLE_REASONS, escalations
from .decision import Adopt, Decision, Emit, JobView, Record, Start, Watch
from .desired import capacity, resolve_size, task_definition
from .observed import ObservedTask
from .ownership import foreign
from .sizing import SizingError, escalated
from .status import now_rfc3339, with_phase
from .types import DesiredCapacity, JobRef, TaskSize

# A job whose capacity provider another pass is creating comes back this much later instead of holding one of the
# dispatcher's threads while it waits (a burst of EC2 jobs would otherwise hold them all and stall Fargate jobs).
CAPACITY_BUSY_RETRY_SECONDS = 0.25
# The reason aws/errors.py gives the error of a cluster that has no room for another capacity provider.
PROVIDER_QUOTA = "CapacityProviderQuota"
IMAGE_SUFFIXES = "jpg, jpeg, tif, tiff, png, dng"


@dataclass(frozen=True)
class InputListing:
    """What listing the input prefix found: the images and their bytes, or why it could not be listed."""

    images: int = 0
    bytes: int = 0
    error: str | None = None


@dataclass(frozen=True)
class CallFailure:
    """An AWS call of the launch that failed for good (transient errors retry the pass before reaching here)."""

    reason: str  # the status reason aws/errors.py gives its code: AccessDenied, CapacityProviderQuota, ...
    message: str
    retryable: bool  # a new attempt may succeed (counted against backoffLimit)


@dataclass(frozen=True)
class RunResult:
    """RunTask's answer: the task, or the failure it reported (``failure_retryable`` from aws/errors.py), or the
    call's error."""

    task: ObservedTask | None = None
    failure: str = ""  # "REASON detail" of RunTask's failures[0]
    failure_retryable: bool = False
    error: CallFailure | None = None


@dataclass(frozen=True)
class Launch:
    """What RunTask needs for one attempt, and the status to write with its answer (the attempt's memory and
    status.sizing recorded)."""

    spec: ODMJobSpec
    ref: JobRef
    attempt: int
    size: TaskSize
    capacity: DesiredCapacity
    task_definition: dict[str, Any]
    status: dict[str, Any]


@dataclass(frozen=True)
class Prepared:
    """Either a launch to run, or the decision that ends the attempt before any AWS call."""

    launch: Launch | None = None
    decision: Decision | None = None


def needs_listing(spec: ODMJobSpec, status: dict[str, Any]) -> bool:
    """Whether the input prefix must be listed to size the attempt: no spec.resources and no count recorded yet
    (retries and memory escalation reuse status.sizing)."""
    known = status.get("sizing")
    return spec.resources is None and not (known and known.get("images"))


def prepare(
    job: JobView,
    status: dict[str, Any],
    attempt: int,
    listing: InputListing | None,
    settings: Settings,
    now: datetime,
) -> Prepared:
    """Size attempt ``attempt`` and say where it runs, or end it: the input cannot be listed or holds no images
    (InputUnavailable), no size fits (InvalidSpec), no memory is left to escalate to (OutOfMemory), a managed
    group that may start no instance (CapacityUnavailable)."""
    spec = job.spec
    assert spec is not None

    def fail(reason: str, message: str) -> Prepared:
        return Prepared(
            decision=Decision(after_run_failure(status, attempt, reason, message, False, now, job))
        )

    dataset = _dataset(spec, status, listing)
    if isinstance(dataset, str):
        return fail("InputUnavailable", dataset)
    try:
        size = resolve_size(spec, dataset[0] if dataset else None)
    except SizingError as exc:
        return fail("InvalidSpec", str(exc))
    fargate = spec.capacity.type == "fargate"
    ceiling = settings.memory_ceiling
    size, problem = escalated(size, escalations(status), fargate, to_mib(ceiling), ceiling)
    if problem:
        return fail("OutOfMemory", problem)
    cap = capacity(spec, settings, size)
    if cap.kind == "managed" and spec.capacity.max_instances == 0:
        message = (
            "spec.capacity.maxInstances is 0, so the Auto Scaling group can never start an instance; "
            "set it to 1 or more"
        )
        return fail("CapacityUnavailable", message)
    ref = JobRef(job.namespace, job.name, job.uid)
    sized = _record_size(status, attempt, size, dataset)
    return Prepared(Launch(spec, ref, attempt, size, cap, task_definition(spec, settings, size), sized))


def launched(
    job: JobView, shown: dict[str, Any], launch: Launch, result: RunResult, now: datetime, log_prefix: str
):
    """RunTask's answer -> the decision: the task recorded and watched, or the attempt ended (retried when the
    failure is retryable), or, when the cluster has no room for the provider, the attempt taken back and the job
    waiting (``shown`` is the status as written before RunTask)."""
    attempt, status = launch.attempt, launch.status
    if result.error is not None:
        error = result.error
        if error.reason == PROVIDER_QUOTA:
            return Decision(waiting_for_capacity(shown, attempt, error.message, now, job.generation))
        new = after_run_failure(status, attempt, error.reason, error.message, error.retryable, now, job)
        return Decision(new)
    if result.task is None:
        message = f"RunTask failed: {result.failure}".strip()
        reason = "CapacityUnavailable" if result.failure_retryable else "RunTaskFailed"
        return Decision(
            after_run_failure(status, attempt, reason, message, result.failure_retryable, now, job)
        )
    task = result.task
    return Decision(
        after_run_task(status, attempt, task, now, job.generation, log_prefix),
        [
            Record(task),
            Watch(launch.capacity.cluster, task.arn),
            Emit("Normal", "TaskStarted", task_message(attempt, task, "started")),
        ],
    )


def adopted(
    job: JobView,
    status: dict[str, Any],
    action: Adopt,
    cluster: str,
    tasks: list[ObservedTask],
    now: datetime,
    log_prefix: str,
) -> Decision:
    """The tasks ECS lists as started by the job -> the decision for the attempt in flight: its own task adopted
    (and a fresh pass to track it), or, when it has none, RunTask for it (the same clientToken, so a task ECS
    created meanwhile is the one answered)."""
    mine = [t for t in tasks if t.attempt == action.attempt and foreign(t, job.uid) is None]
    if not mine:
        return Decision(status, [Start(action.attempt)])
    task = mine[0]
    return Decision(
        after_run_task(status, action.attempt, task, now, job.generation, log_prefix),
        [
            Record(task),
            Watch(cluster, task.arn),
            Emit("Normal", "TaskAdopted", task_message(action.attempt, task, "found (adopted)")),
        ],
        requeue_after=0,
    )


def managed_provider(spec: ODMJobSpec | None, settings: Settings) -> tuple[str, str] | None:
    """(cluster, provider) of the operator-managed provider a new attempt of the job needs, when that is known
    before listing the dataset (the job gives its resources); None otherwise."""
    if spec is None or spec.resources is None or spec.capacity.type == "fargate":
        return None
    try:
        cap = capacity(spec, settings, resolve_size(spec, None))
    except SizingError:
        return None
    return (cap.cluster, cap.provider) if cap.kind == "managed" else None


def after_run_task(
    status: dict[str, Any],
    attempt: int,
    task: ObservedTask,
    now: datetime,
    generation: int | None,
    log_prefix: str,
) -> dict[str, Any]:
    """Status once RunTask (or adoption) gave the attempt its task: ARN and attempt in one patch."""
    new = copy.deepcopy(status)
    stamp = now_rfc3339(now)
    entry = next(a for a in new["attempts"] if a["number"] == attempt)
    entry["taskArn"] = task.arn
    entry["startedAt"] = task.created_at or stamp
    aws = new.setdefault("aws", {})
    aws["taskArn"] = task.arn
    aws["lastStatus"] = task.last_status
    if task.task_definition_arn:
        aws["taskDefinitionArn"] = task.task_definition_arn
    if task.capacity_provider:
        aws["capacityProvider"] = task.capacity_provider
    aws["logStream"] = f"{log_prefix}/{contract.ODM}/{task.arn.rsplit('/', 1)[-1]}"
    new.setdefault("startTime", entry["startedAt"])
    message = f"attempt {attempt}: task {task.last_status}"
    return with_phase(new, "Starting", "Starting", message, stamp, generation)


def waiting_for_capacity(
    status: dict[str, Any], attempt: int, message: str, now: datetime, generation: int | None = None
) -> dict[str, Any]:
    """The cluster cannot take the provider the job needs (ECS's 20 per cluster): the attempt did not happen (no
    RunTask), so it is taken back and the job waits in Pending; the resync tries again, and the janitor frees idle
    operator-managed providers after capacityGraceSeconds. Nothing is counted against backoffLimit."""
    new = copy.deepcopy(status)
    new["attempts"] = [a for a in new.get("attempts", []) if a.get("number") != attempt]
    stamp = now_rfc3339(now)
    return with_phase(new, "Pending", PROVIDER_QUOTA, message, stamp, generation)


def after_run_failure(
    status: dict[str, Any],
    attempt: int,
    reason: str,
    message: str,
    retryable: bool,
    now: datetime,
    job: JobView,
) -> dict[str, Any]:
    """Status when the attempt could not start: retryable failures end the attempt (and a retry follows),
    terminal ones fail the job."""
    new = copy.deepcopy(status)
    stamp = now_rfc3339(now)
    entry = next(a for a in new["attempts"] if a["number"] == attempt)
    entry["finishedAt"] = stamp
    entry["reason"] = reason if not retryable or reason in RETRYABLE_REASONS else "CapacityUnavailable"
    entry["stoppedReason"] = message
    if retryable:
        message = f"attempt {attempt}: {message}; retrying"
        return with_phase(new, "Starting", entry["reason"], message, stamp, job.generation)
    return with_phase(new, "Failed", reason, message, stamp, job.generation)


def task_message(attempt: int, task: ObservedTask, what: str) -> str:
    """The Event text naming an attempt's ECS task, as a Job's SuccessfulCreate names its pod."""
    where = f" on {task.capacity_provider}" if task.capacity_provider else ""
    definition = (
        f", task definition {task.task_definition_arn.rsplit('/', 1)[-1]}" if task.task_definition_arn else ""
    )
    return f"attempt {attempt}: {what} ECS task {task.arn}{where}{definition}"


def _dataset(
    spec: ODMJobSpec, status: dict[str, Any], listing: InputListing | None
) -> tuple[int, int] | str | None:
    """(images, bytes) the attempt is sized from (None with spec.resources), or why the input is unusable."""
    if spec.resources is not None:
        return None
    known = status.get("sizing")
    if known and known.get("images"):
        return int(known["images"]), int(known.get("bytes", 0))
    if listing is None or listing.error is not None:
        return f"cannot list {spec.input.s3_uri}: {listing.error if listing else 'not listed'}"
    if listing.images == 0:
        return f"the input prefix {spec.input.s3_uri} holds no images ({IMAGE_SUFFIXES})"
    return listing.images, listing.bytes


def _record_size(
    status: dict[str, Any], attempt: int, size: TaskSize, dataset: tuple[int, int] | None
) -> dict[str, Any]:
    """The attempt's memory, and status.sizing when resources came from the dataset (written with the ARN)."""
    new = copy.deepcopy(status)
    entry = next(a for a in new["attempts"] if a["number"] == attempt)
    entry["memory"] = format_mib(size.memory_mib)
    if size.sizing is not None and dataset is not None:
        new["sizing"] = {
            "images": size.sizing.images,
            "bytes": dataset[1],
            "rule": size.sizing.rule,
            "cpu": size.sizing.cpu,
            "memory": size.sizing.memory,
            "disk": size.sizing.disk,
        }
    return new
