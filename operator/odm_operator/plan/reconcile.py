"""Desired + observed -> what to do now, and the status to show: the operator's whole decision, pure.

``decide`` is called on every pass (a watch event, a tracked task change, a scheduled requeue or resync). It
reads the job's status, the last observed state of its current task (from the shared tracker's cache, never a
fresh AWS call) and the clock, and returns the status the job should show plus the actions to take. The two actions that create things AWS assigns an
identity to (RunTask) are split around a status write: the attempt is recorded as in flight *before* RunTask, so an
operator that dies in between adopts the task on restart (ListTasks by startedBy) instead of running a second one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import contract
from ..api.types import ODMJobSpec
from .observed import ObservedTask
from .outcome import Outcome, classify
from .ownership import foreign
from .status import FINISHED, STARTING_STATES, now_rfc3339, parse_time, settled, with_phase

# Attempt reasons that count against backoffLimit (a retry of the same work on new capacity).
RETRYABLE_REASONS = frozenset(
    {
        "SpotInterruption",
        "TerminationNotice",
        "InfrastructureHealth",
        "CapacityUnavailable",
        "TaskMissing",
        "HostTerminated",
        "ImagePullThrottled",
    }
)


@dataclass(frozen=True)
class Timing:
    """Clock-related knobs. ``time_scale`` > 1 makes the operator's own durations (deadline, TTL, backoff) pass
    faster, matching the sandbox's accelerated ECS agent; it is 1 against real AWS."""

    backoff_seconds: float = 10.0
    backoff_max_seconds: float = 300.0
    time_scale: float = 1.0
    provisioning_timeout_seconds: float = 1200.0


@dataclass(frozen=True)
class JobView:
    namespace: str
    name: str
    uid: str
    generation: int | None
    spec: ODMJobSpec | None  # None when the spec is invalid
    status: dict[str, Any]
    errors: tuple[str, ...] = ()  # admission errors, "path: message"
    policy_errors: tuple[str, ...] = ()  # what the admin's settings forbid, "path: message"
    quota_wait: str | None = None  # why the namespace's concurrency quota holds this job back, if it does
    config_errors: tuple[str, ...] = ()  # operator settings this job needs that are missing or malformed
    creation: str | None = None


@dataclass(frozen=True)
class Start:
    """Record attempt ``attempt`` as in flight (already in Decision.status), then ensure and RunTask."""

    attempt: int


@dataclass(frozen=True)
class Adopt:
    """Find the task of an in-flight attempt with ListTasks(startedBy) before running another."""

    attempt: int


@dataclass(frozen=True)
class Stop:
    cluster: str
    task_arn: str
    reason: str


@dataclass(frozen=True)
class StopOwn:
    """Stop whatever tasks ECS lists as started by this job (ListTasks by startedBy): used when status no longer
    says which task is the job's, so the job does not leave its own task running as it fails."""

    cluster: str
    reason: str


@dataclass(frozen=True)
class Watch:
    cluster: str
    task_arn: str


@dataclass(frozen=True)
class Forget:
    task_arn: str


@dataclass(frozen=True)
class DeleteJob:
    pass


@dataclass(frozen=True)
class CollectOutputs:
    """List the output prefix once and put the products into status.outputs (in the same write)."""

    output_uri: str


Action = Start | Adopt | Stop | StopOwn | Watch | Forget | DeleteJob | CollectOutputs


@dataclass
class Decision:
    status: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    requeue_after: float | None = None  # seconds of real time until something is due (backoff, deadline, TTL)


def decide(job: JobView, observed: ObservedTask | None, now: datetime, timing: Timing) -> Decision:
    decision = _decide(job, observed, now, timing)
    # Every pass ends with observedGeneration and the conditions recomputed (written only if they changed).
    decision.status = settled(decision.status, now_rfc3339(now), job.generation)
    return decision


def _decide(job: JobView, observed: ObservedTask | None, now: datetime, timing: Timing) -> Decision:
    status = copy.deepcopy(job.status)
    stamp = now_rfc3339(now)

    def phase(name: str, reason: str, message: str) -> dict[str, Any]:
        return with_phase(status, name, reason, message, stamp, job.generation)

    if status.get("phase") in FINISHED:
        return _finished(job, status, now, timing)
    if job.errors or job.spec is None:
        message = "invalid spec: " + "; ".join(job.errors)
        return Decision(phase("Failed", "InvalidSpec", message))
    if job.policy_errors:
        message = "not allowed by the operator's policy: " + "; ".join(job.policy_errors)
        return Decision(phase("Failed", "PolicyViolation", message))
    spec = job.spec
    attempts: list[dict[str, Any]] = status.setdefault("attempts", [])
    latest = attempts[-1] if attempts else None
    active = latest if latest and not latest.get("finishedAt") else None
    cluster = (status.get("aws") or {}).get("cluster") or ""

    # The task in status must be this job's before anything is done to it or read from it (plan/ownership.py):
    # status can be written by others. Until the tracker has described it, stopping waits for that answer.
    task_arn = active.get("taskArn") if active else None
    seen = observed is not None and observed.arn == task_arn
    if task_arn and seen and observed is not None:
        why = foreign(observed, job.uid)
        if why:
            return _foreign_task(job, status, active, why, stamp)
    if task_arn and not seen and (spec.suspend or _past_deadline(spec, status, now, timing)):
        return Decision(status, [Watch(cluster, task_arn)])

    if spec.suspend:
        return _suspend(job, status, active, observed, cluster, stamp)
    if job.config_errors and active is None:  # a task already running is still tracked to its end
        message = "the operator's settings cannot run this job: " + "; ".join(job.config_errors)
        return Decision(phase("Failed", "InvalidConfiguration", message))

    deadline = spec.active_deadline_seconds
    started = parse_time(status.get("startTime"))
    if deadline and started:
        remaining = deadline - (now - started).total_seconds() * timing.time_scale
        if remaining <= 0:
            actions: list[Action] = []
            if active and active.get("taskArn"):
                actions += [
                    Stop(cluster, active["taskArn"], _why(job, "activeDeadlineSeconds passed")),
                    Forget(active["taskArn"]),
                ]
                _finish_attempt(active, stamp, "DeadlineExceeded")
            message = f"the job ran longer than activeDeadlineSeconds ({deadline}s); the task was stopped"
            return Decision(phase("Failed", "DeadlineExceeded", message), actions)
        deadline_in = remaining / timing.time_scale
    else:
        deadline_in = None

    if active is None:
        return _next_attempt(job, spec, status, latest, now, timing, deadline_in)
    if not active.get("taskArn"):
        return Decision(status, [Adopt(active["number"])], requeue_after=deadline_in)
    if observed is None or observed.arn != active["taskArn"]:
        return Decision(status, [Watch(cluster, active["taskArn"])], requeue_after=deadline_in)
    return _track(job, spec, status, active, observed, now, timing, deadline_in)


def _past_deadline(spec: ODMJobSpec, status: dict[str, Any], now: datetime, timing: Timing) -> bool:
    started = parse_time(status.get("startTime"))
    deadline = spec.active_deadline_seconds
    return bool(deadline and started and deadline - (now - started).total_seconds() * timing.time_scale <= 0)


def _foreign_task(
    job: JobView, status: dict[str, Any], active: dict[str, Any] | None, why: str, stamp: str
) -> Decision:
    """The attempt's task in status is another job's (status was written by someone else): nothing is done to it
    and nothing read from it; the job fails saying so. Only this job's tracking of the ARN is dropped."""
    assert active is not None
    arn = active["taskArn"]
    active["finishedAt"] = stamp
    active["reason"] = "ForeignTask"
    message = (
        f"status.attempts[{active['number'] - 1}].taskArn names a task of another job: {why}. The operator did "
        "not stop, adopt or read it; status was changed by someone other than the operator"
    )
    cluster = (status.get("aws") or {}).get("cluster") or ""
    actions: list[Action] = [Forget(arn), StopOwn(cluster, _why(job, "status named another job's task"))]
    return Decision(with_phase(status, "Failed", "ForeignTask", message, stamp, job.generation), actions)


def _finished(job: JobView, status: dict[str, Any], now: datetime, timing: Timing) -> Decision:
    ttl = job.spec.ttl_seconds_after_finished if job.spec else None
    done = parse_time(status.get("completionTime"))
    if ttl is None or done is None:
        return Decision(status)
    remaining = ttl - (now - done).total_seconds() * timing.time_scale
    if remaining <= 0:
        return Decision(status, [DeleteJob()])
    return Decision(status, requeue_after=remaining / timing.time_scale)


def _suspend(
    job: JobView,
    status: dict[str, Any],
    active: dict[str, Any] | None,
    observed: ObservedTask | None,
    cluster: str,
    stamp: str,
) -> Decision:
    actions: list[Action] = []
    if active and not active.get("taskArn"):
        return Decision(status, [Adopt(active["number"])])  # find it first, so it can be stopped
    if active:
        actions += [
            Stop(cluster, active["taskArn"], _why(job, "spec.suspend set")),
            Forget(active["taskArn"]),
        ]
        _finish_attempt(active, stamp, "Suspended", observed)
    # Kubernetes Jobs reset startTime on resume: the deadline counts running time after the last resume.
    status.pop("startTime", None)
    message = "spec.suspend is true: no task runs until it is set to false"
    return Decision(with_phase(status, "Suspended", "Suspended", message, stamp, job.generation), actions)


def _next_attempt(
    job: JobView,
    spec: ODMJobSpec,
    status: dict[str, Any],
    latest: dict[str, Any] | None,
    now: datetime,
    timing: Timing,
    deadline_in: float | None,
) -> Decision:
    stamp = now_rfc3339(now)
    attempts = status["attempts"]
    retries = sum(1 for a in attempts if _is_retry(a, attempts, spec))
    if latest and _is_retry(latest, attempts, spec):
        if retries > spec.backoff_limit:
            message = (
                f"{len(attempts)} attempts failed for retryable reasons (last: {latest.get('reason')}: "
                f"{latest.get('stoppedReason') or ''}); backoffLimit is {spec.backoff_limit}"
            )
            return Decision(
                with_phase(status, "Failed", "BackoffLimitExceeded", message, stamp, job.generation)
            )
        wait = min(timing.backoff_seconds * 2 ** (retries - 1), timing.backoff_max_seconds)
        ended = parse_time(latest.get("finishedAt"))
        if ended is not None:
            left = wait - (now - ended).total_seconds() * timing.time_scale
            if left > 0:
                return Decision(status, requeue_after=_soonest(left / timing.time_scale, deadline_in))
    if job.quota_wait and (latest is None or latest.get("reason") == "Suspended"):
        waiting = with_phase(status, "Pending", "QuotaExceeded", job.quota_wait, stamp, job.generation)
        return Decision(waiting, requeue_after=deadline_in)
    number = len(attempts) + 1
    attempts.append({"number": number})
    message = f"starting attempt {number}"
    return Decision(
        with_phase(status, "Starting", "Starting", message, stamp, job.generation), [Start(number)]
    )


def _track(
    job: JobView,
    spec: ODMJobSpec,
    status: dict[str, Any],
    active: dict[str, Any],
    observed: ObservedTask,
    now: datetime,
    timing: Timing,
    deadline_in: float | None,
) -> Decision:
    stamp = now_rfc3339(now)
    aws = status.setdefault("aws", {})
    aws["lastStatus"] = observed.last_status
    if observed.capacity_provider:
        aws["capacityProvider"] = observed.capacity_provider
    if not observed.stopped:
        waited = _waited(observed, now) * timing.time_scale
        if observed.last_status == "PROVISIONING" and waited > timing.provisioning_timeout_seconds:
            _finish_attempt(active, stamp, "CapacityUnavailable", observed)
            active["stoppedReason"] = "no capacity within the provisioning timeout"
            message = (
                f"the task waited {waited:.0f}s for capacity on {observed.capacity_provider or 'its provider'} "
                f"without being placed (timeout {timing.provisioning_timeout_seconds:.0f}s); raise "
                "spec.capacity.maxInstances, allow more instance types, or use on-demand or fargate capacity"
            )
            actions: list[Action] = [
                Stop(status["aws"].get("cluster", ""), observed.arn, _why(job, "no capacity"))
            ]
            actions.append(Forget(observed.arn))
            return Decision(
                with_phase(status, "Failed", "CapacityUnavailable", message, stamp, job.generation), actions
            )
        if observed.last_status in STARTING_STATES:
            if observed.last_status == "PROVISIONING":
                message = f"attempt {active['number']}: task PROVISIONING (waiting for capacity)"
            else:  # PENDING or ACTIVATING: one message, so the passing ECS state alone costs no status write
                message = f"attempt {active['number']}: task placed, pulling images and starting"
            return Decision(
                with_phase(status, "Starting", "Starting", message, stamp, job.generation),
                requeue_after=deadline_in,
            )
        if observed.progress:
            status["progress"] = {"percent": observed.progress[1], "stage": observed.progress[0]}
        message = f"attempt {active['number']}: ODM is running"
        return Decision(
            with_phase(status, "Running", "Running", message, stamp, job.generation),
            requeue_after=deadline_in,
        )
    outcome = classify(observed, spec.input.s3_uri, spec.output.s3_uri, spec.capacity.spot)
    _finish_attempt(active, stamp, outcome.reason, observed, outcome)
    forget: list[Action] = [Forget(observed.arn)]
    if outcome.kind == "succeeded":
        status["progress"] = {"percent": 100, "stage": "completed"}
        done = with_phase(status, "Succeeded", "Succeeded", outcome.message, stamp, job.generation)
        return Decision(done, [*forget, CollectOutputs(spec.output.s3_uri)])
    if outcome.kind == "retryable" or _is_retry(active, status["attempts"], spec):
        decision = _next_attempt(job, spec, status, active, now, timing, deadline_in)
        decision.actions = forget + decision.actions
        if not decision.actions[1:] and decision.status.get("phase") not in FINISHED:
            message = f"attempt {active['number']} ended: {outcome.message}; retrying"
            decision.status = with_phase(
                decision.status, "Starting", outcome.reason, message, stamp, job.generation
            )
        return decision
    if outcome.kind == "stopped":
        message = f"the task was stopped outside the operator ({observed.stopped_reason or 'StopTask'})"
        return Decision(
            with_phase(status, "Cancelled", "TaskStopped", message, stamp, job.generation), forget
        )
    return Decision(
        with_phase(status, "Failed", outcome.reason, outcome.message, stamp, job.generation), forget
    )


def _is_retry(attempt: dict[str, Any], attempts: list[dict[str, Any]], spec: ODMJobSpec) -> bool:
    """Whether an ended attempt is retried (and counts against backoffLimit): infrastructure and capacity
    failures, and the first out-of-memory failure when retryPolicy.onOutOfMemory is escalate."""
    reason = attempt.get("reason")
    if reason in RETRYABLE_REASONS:
        return True
    if reason == "OutOfMemory" and spec.retry_policy.on_out_of_memory == "escalate":
        first_oom = next((a for a in attempts if a.get("reason") == "OutOfMemory"), None)
        return first_oom is attempt
    return False


def escalations(status: dict[str, Any]) -> int:
    """How many memory steps up the next attempt runs with: one per out-of-memory attempt so far."""
    return sum(1 for a in status.get("attempts", []) if a.get("reason") == "OutOfMemory")


def _finish_attempt(
    attempt: dict[str, Any],
    stamp: str,
    reason: str,
    observed: ObservedTask | None = None,
    outcome: Outcome | None = None,
) -> None:
    attempt["finishedAt"] = (observed.stopped_at if observed and observed.stopped_at else None) or stamp
    attempt["reason"] = reason
    if observed is not None:
        if observed.stop_code:
            attempt["stopCode"] = observed.stop_code
        if observed.stopped_reason:
            attempt["stoppedReason"] = observed.stopped_reason
    if outcome is not None and outcome.exit_code is not None:
        attempt["exitCode"] = outcome.exit_code


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
    return with_phase(new, "Pending", "CapacityProviderQuota", message, stamp, generation)


def after_run_failure(
    status: dict[str, Any],
    attempt: int,
    reason: str,
    message: str,
    retryable: bool,
    now: datetime,
    generation: int | None,
) -> dict[str, Any]:
    """Status when RunTask refused the attempt: retryable failures end the attempt (and a retry follows),
    terminal ones fail the job."""
    new = copy.deepcopy(status)
    stamp = now_rfc3339(now)
    entry = next(a for a in new["attempts"] if a["number"] == attempt)
    entry["finishedAt"] = stamp
    entry["reason"] = reason if not retryable or reason in RETRYABLE_REASONS else "CapacityUnavailable"
    entry["stoppedReason"] = message
    if retryable:
        return with_phase(
            new, "Starting", entry["reason"], f"attempt {attempt}: {message}; retrying", stamp, generation
        )
    return with_phase(new, "Failed", reason, message, stamp, generation)


def _waited(observed: ObservedTask, now: datetime) -> float:
    """How long the task had been waiting when it was last seen so: a stale observation (AWS unreachable,
    throttled polls) does not count as time without capacity."""
    created = parse_time(observed.created_at)
    seen = parse_time(observed.observed_at) or now
    return (seen - created).total_seconds() if created else 0.0


def _why(job: JobView, what: str) -> str:
    return f"odm-operator: {what} for ODMJob {job.namespace}/{job.name}"


def _soonest(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None
