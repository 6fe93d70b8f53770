"""A job's attempts (status.attempts): which one is in flight, how one ends, and which endings are retried.

The one definition of retryability for an ended attempt: ``RETRYABLE_REASONS`` (infrastructure and capacity, which
plan/outcome.py and plan/launch.py name), plus the first out-of-memory failure when the job escalates memory.
"""

from __future__ import annotations

from typing import Any

from ..api.types import ODMJobSpec
from .observed import ObservedTask
from .outcome import Outcome

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


def active(status: dict[str, Any]) -> dict[str, Any] | None:
    """The attempt in flight (the last one, while it has no finishedAt), or None."""
    attempts = status.get("attempts") or []
    if attempts and not attempts[-1].get("finishedAt"):
        return attempts[-1]
    return None


def is_retry(attempt: dict[str, Any], attempts: list[dict[str, Any]], spec: ODMJobSpec) -> bool:
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


def finish(
    attempt: dict[str, Any],
    stamp: str,
    reason: str,
    observed: ObservedTask | None = None,
    outcome: Outcome | None = None,
) -> None:
    """End ``attempt`` (in place, on the planner's own copy of the status) with ``reason``."""
    attempt["finishedAt"] = (observed.stopped_at if observed and observed.stopped_at else None) or stamp
    attempt["reason"] = reason
    if observed is not None:
        if observed.stop_code:
            attempt["stopCode"] = observed.stop_code
        if observed.stopped_reason:
            attempt["stoppedReason"] = observed.stopped_reason
    if outcome is not None and outcome.exit_code is not None:
        attempt["exitCode"] = outcome.exit_code
