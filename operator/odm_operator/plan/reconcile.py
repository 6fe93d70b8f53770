"""Desired + observed -> what to do now, and the status to show: the operator's whole decision, pure.

``decide`` is called on every pass (a watch event, a tracked task change, a scheduled requeue or resync). It
reads the job's status, the last observed state of its current task (from the shared tracker's cache, never a
fresh AWS call) and the clock, and returns the status the job should show plus the actions to take. The two actions that create things AWS assigns an
identity to (RunTask) are split around a status write: the attempt is recorded as in flight *before* RunTask, so an
operator that dies in between adopts the task on restart (ListTasks by startedBy) instead of running a second one.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from ..api.types import ODMJobSpec
from .attempts import RETRYABLE_REASONS, escalations, finish, is_retry
from .decision import (
    Action,
    Adopt,
    CollectOutputs,
    Decision,
    DeleteJob,
    Emit,
    Forget,
    JobView,
    Record,
    Start,
    Stop,
    StopOwn,
    Timing,
    Watch,
)
from .launch import CAPACITY_BUSY_RETRY_SECONDS
from .observed import ObservedTask
from .outcome import classify
from .ownership import foreign
from .status import FINISHED, STARTING_STATES, now_rfc3339, parse_time, settled, with_phase


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

    if job.cluster and job.spec is not None:  # where its tasks run and log, shown from the first pass on
        aws = status.setdefault("aws", {})
        aws.setdefault("cluster", job.cluster)
        aws.setdefault("logGroup", job.log_group)
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
                finish(active, stamp, "DeadlineExceeded")
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
        finish(active, stamp, "Suspended", observed)
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
    retries = sum(1 for a in attempts if is_retry(a, attempts, spec))
    if latest and is_retry(latest, attempts, spec):
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
    if job.capacity_busy:  # nothing written: the pass comes back once the provider exists
        return Decision(status, requeue_after=CAPACITY_BUSY_RETRY_SECONDS)
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
            finish(active, stamp, "CapacityUnavailable", observed)
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
    finish(active, stamp, outcome.reason, observed, outcome)
    forget: list[Action] = [Forget(observed.arn)]
    if outcome.kind == "succeeded":
        status["progress"] = {"percent": 100, "stage": "completed"}
        done = with_phase(status, "Succeeded", "Succeeded", outcome.message, stamp, job.generation)
        return Decision(done, [*forget, CollectOutputs(spec.output.s3_uri)])
    if outcome.kind == "retryable" or is_retry(active, status["attempts"], spec):
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


__all__ = [
    "RETRYABLE_REASONS",
    "Action",
    "Adopt",
    "CollectOutputs",
    "Decision",
    "DeleteJob",
    "Emit",
    "Forget",
    "JobView",
    "Record",
    "Start",
    "Stop",
    "StopOwn",
    "Timing",
    "Watch",
    "decide",
    "escalations",
]
