"""AWS errors retried without counting (throttling, 5xx, a busy cluster), made visible in the job's status.

A pass that fails with such an error is run again by the dispatcher with backoff, and nothing is counted against
the job's backoffLimit. Retried silently, a persistent one (a 5xx that never ends, a misrouted endpoint) would leave
the job "Starting" forever; so after a few failed passes in a row the job carries an ``AwsRetrying`` condition
naming the call, AWS's error code and the number of tries, and after the settings' bound it fails with reason
AwsUnavailable, unless the failing call may have started or may still have to stop a task (RunTask, StopTask,
ListTasks: giving up there could leave a task running unwatched), which are retried for as long as it takes.
"""

from __future__ import annotations

import copy
from typing import Any

from .status import with_phase

CONDITION = "AwsRetrying"
# Passes failed in a row before the condition is shown: one or two are the ordinary weather of a busy account.
SHOW_AFTER = 3
# Then the condition is rewritten every this many tries (one status write per try would be a write storm).
REWRITE_EVERY = 10
# Calls the operator never gives up on (see the module docstring).
NEVER_GIVE_UP = frozenset({"RunTask", "StopTask", "ListTasks"})


def should_write(tries: int, limit: int) -> bool:
    return tries == SHOW_AFTER or tries >= limit or (tries > SHOW_AFTER and tries % REWRITE_EVERY == 0)


def retrying(
    status: dict[str, Any],
    operation: str,
    code: str,
    tries: int,
    message: str,
    limit: int,
    now: str,
    generation: Any,
) -> dict[str, Any]:
    """Status after ``tries`` failed passes in a row: the condition, or Failed/AwsUnavailable past ``limit``."""
    text = f"{operation} failed {tries} times in a row with {code}: {message}"
    if tries >= limit and operation not in NEVER_GIVE_UP:
        failed = with_phase(
            status,
            "Failed",
            "AwsUnavailable",
            f"{text}; gave up after {limit} tries (setting awsRetryLimit); no task was started",
            now,
            generation,
        )
        attempts = failed.get("attempts") or []
        # The attempt in flight never reached RunTask (the call that failed came before it).
        if attempts and not attempts[-1].get("finishedAt"):
            attempts[-1]["finishedAt"], attempts[-1]["reason"] = now, "AwsUnavailable"
        return _with_condition(failed, "True", code, text, now, generation)
    return _with_condition(status, "True", code, f"{text}; retrying with backoff", now, generation)


def recovered(status: dict[str, Any], now: str, generation: Any) -> dict[str, Any]:
    """The condition turned False once a pass succeeds again (unchanged when there is none)."""
    current = next((c for c in status.get("conditions", []) if c.get("type") == CONDITION), None)
    if current is None or current.get("status") != "True":
        return status
    return _with_condition(status, "False", "Recovered", "AWS calls succeed again", now, generation)


def _with_condition(
    status: dict[str, Any], value: str, reason: str, message: str, now: str, generation: Any
) -> dict[str, Any]:
    new = copy.deepcopy(status)
    kept = [c for c in new.get("conditions", []) if c.get("type") != CONDITION]
    kept.append(
        {
            "type": CONDITION,
            "status": value,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
            "observedGeneration": generation,
        }
    )
    new["conditions"] = kept
    return new
