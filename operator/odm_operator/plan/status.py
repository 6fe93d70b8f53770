"""Observed state + outcome -> the ODMJob's status: phase, reason, message and Kubernetes-style conditions.

Conditions are recomputed from the phase on every pass and keep their lastTransitionTime while their status does
not change (kubebuilder / ACK convention). ``merge_patch`` gives the smallest JSON merge patch from the status the
object has to the status it should have, so nothing is written when nothing changed.

Besides the batch-Job-like conditions (Accepted, CapacityReady, Running, Complete, Failed, Suspended) the status
carries the three that GitOps tools read (kstatus, kubernetes-sigs/cli-utils pkg/kstatus/status/generic.go, which
Flux uses): ``Reconciling`` True while the job is on its way (kstatus: InProgress), ``Stalled`` True once it ended
without success (kstatus: Failed; without it a failed job would look "in progress" until Flux's timeout) and
``Ready`` True only when it succeeded. kstatus first compares ``status.observedGeneration`` with
``metadata.generation``: it is the generation whose spec the job runs with, so it stays behind when a spec change
was refused (SpecChangeIgnored), and follows every accepted change (spec.suspend) on the next pass.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from ..api.types import FINISHED_PHASES

# The phases a job never leaves: one definition, the API types' (api/types.py).
FINISHED = FINISHED_PHASES
# lastStatus values before a container runs: the job is Starting until the task reaches RUNNING.
STARTING_STATES = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
# Phases in which the operator still works towards the job's end: kstatus's Reconciling.
ACTIVE = frozenset({"Pending", "Starting", "Running"})
# Ended without success and will not run again: kstatus's Stalled. Cancelled belongs here too (its task was stopped
# outside the operator; nothing retries it), or Flux would wait for it until its timeout.
STALLED = frozenset({"Failed", "Cancelled"})
# The condition that records a refused spec change (with_drift).
SPEC_CHANGE_IGNORED = "SpecChangeIgnored"


def now_rfc3339(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def conditions(status: dict[str, Any], now: str, generation: int | None) -> list[dict[str, Any]]:
    """The conditions the status implies, with transition times kept from the previous ones when unchanged."""
    phase = status.get("phase")
    reason = status.get("reason") or phase or "Unknown"
    message = status.get("message") or ""
    last_status = (status.get("aws") or {}).get("lastStatus")
    wanted: list[tuple[str, str, str, str]] = []
    if reason == "InvalidSpec" or reason == "PolicyViolation":
        wanted.append(("Accepted", "False", reason, message))
    else:
        wanted.append(("Accepted", "True", "Valid", "the spec is valid"))
    if last_status == "PROVISIONING" and phase == "Starting":
        wanted.append(("CapacityReady", "False", "ScalingOut", "waiting for capacity to place the task"))
    elif last_status in ("PENDING", "ACTIVATING", "RUNNING") or phase == "Running":
        wanted.append(("CapacityReady", "True", "Placed", "the task was placed on capacity"))
    elif reason == "CapacityUnavailable":
        wanted.append(("CapacityReady", "False", reason, message))
    if phase == "Running":
        wanted.append(("Running", "True", "TaskRunning", "the ODM task is running"))
    elif any(c.get("type") == "Running" for c in status.get("conditions", [])):
        wanted.append(("Running", "False", reason, message))
    if phase == "Succeeded":
        wanted.append(("Complete", "True", reason, message))
    if phase == "Failed":
        wanted.append(("Failed", "True", reason, message))
    previous = {c.get("type"): c for c in status.get("conditions", [])}
    if phase == "Suspended":
        wanted.append(("Suspended", "True", "Suspended", message))
    elif "Suspended" in previous:
        wanted.append(("Suspended", "False", "Resumed", "spec.suspend is false"))
    wanted.extend(gitops_conditions(phase, reason, message, last_status))
    out = []
    for ctype, cstatus, creason, cmessage in wanted:
        before = previous.get(ctype)
        since = before.get("lastTransitionTime") if before and before.get("status") == cstatus else now
        out.append(
            {
                "type": ctype,
                "status": cstatus,
                "reason": creason,
                "message": cmessage,
                "lastTransitionTime": since or now,
                "observedGeneration": generation,
            }
        )
    # A condition that no longer applies stays, as K8s Jobs keep theirs, unless it would contradict the phase.
    for ctype, before in previous.items():
        if ctype not in {c["type"] for c in out} and ctype not in ("Complete", "Failed", "CapacityReady"):
            out.append(before)
    return out


def gitops_conditions(
    phase: str | None, reason: str, message: str, last_status: str | None
) -> list[tuple[str, str, str, str]]:
    """Ready, Reconciling and Stalled (type, status, reason, message) for a job in ``phase``."""
    if phase == "Succeeded":
        ready = ("Ready", "True", "Succeeded", message)
    else:
        ready = ("Ready", "False", reason, message)
    if phase in ACTIVE:
        # A task waiting in PROVISIONING waits for capacity to scale out (CapacityReady says the same).
        why = "ScalingOut" if last_status == "PROVISIONING" and reason == "Starting" else reason
        reconciling = ("Reconciling", "True", why, message)
    else:
        reconciling = (
            "Reconciling",
            "False",
            phase or "Unknown",
            f"the job is {phase}; no work is under way",
        )
    if phase in STALLED:
        stalled = ("Stalled", "True", reason, message)
    else:
        stalled = ("Stalled", "False", phase or "Unknown", "the job has not ended in failure")
    return [ready, reconciling, stalled]


def observed_generation(status: dict[str, Any], generation: int | None) -> int | None:
    """The generation whose spec the job runs with: ``generation``, unless a change to it was refused (then the
    one recorded before; kstatus and Argo CD see the lag)."""
    refused = any(
        c.get("type") == SPEC_CHANGE_IGNORED and c.get("status") == "True"
        for c in status.get("conditions", [])
    )
    if refused and status.get("observedGeneration") is not None:
        return status["observedGeneration"]
    return generation


def with_phase(
    status: dict[str, Any], phase: str, reason: str, message: str, now: str, generation: int | None
) -> dict[str, Any]:
    """A copy of ``status`` in ``phase`` with conditions recomputed."""
    new = copy.deepcopy(status)
    new["phase"] = phase
    new["reason"] = reason
    new["message"] = message
    new["observedGeneration"] = observed_generation(new, generation)
    if phase in FINISHED and not new.get("completionTime"):
        new["completionTime"] = now
    new["conditions"] = conditions(new, now, new["observedGeneration"])
    return new


def settled(status: dict[str, Any], now: str, generation: int | None) -> dict[str, Any]:
    """``status`` with observedGeneration and the conditions recomputed, as every pass ends: a pass that changes
    no phase (a finished job whose spec.suspend changed, a retry waiting for its backoff) still shows the
    generation it observed. Unchanged when nothing differs, so it costs no write."""
    if not status.get("phase"):
        return status
    new = dict(status)
    new["observedGeneration"] = observed_generation(new, generation)
    new["conditions"] = conditions(new, now, new["observedGeneration"])
    return new


def merge_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The top-level JSON merge patch turning ``old`` into ``new`` (lists and objects are replaced whole)."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        if old.get(key) != value:
            patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


def only_live_fields_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether ``new`` differs from ``old`` only in ``aws.lastStatus``: ECS's passing states (PENDING, ACTIVATING,
    DEACTIVATING, STOPPING, ...) are recorded along with the next real change, not written on their own."""
    patch = merge_patch(old, new)
    if set(patch) != {"aws"}:
        return False
    before, after = dict(old.get("aws") or {}), dict(new.get("aws") or {})
    before.pop("lastStatus", None)
    after.pop("lastStatus", None)
    return before == after


def phase_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return (old.get("phase"), old.get("reason")) != (new.get("phase"), new.get("reason"))


# Reasons of an active job that say it is on its way, not that an attempt went wrong.
PROGRESS_REASONS = frozenset({"Starting", "Running", "ScalingOut", "QuotaExceeded"})


def phase_events(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Events a status change is worth, the way a batch/v1 Job's controller posts
    them: one per phase or reason change, Warning for a failure and for an attempt that ended badly and is being
    retried (SpotInterruption, OutOfMemory, ...), and Resumed when a suspended job runs again."""
    if not phase_changed(old, new):
        return []
    phase = new.get("phase")
    reason = new.get("reason") or phase or ""
    events = []
    if old.get("phase") == "Suspended" and phase != "Suspended":
        events.append(("Normal", "Resumed", "spec.suspend is false: the job runs again"))
    warning = phase in STALLED or (phase in ACTIVE and reason not in PROGRESS_REASONS)
    events.append(("Warning" if warning else "Normal", reason, new.get("message") or ""))
    return events


def spec_drift(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    """Top-level spec fields that changed, other than ``suspend`` (the one field a user may change)."""
    old, new = old or {}, new or {}
    return sorted(k for k in set(old) | set(new) if k != "suspend" and old.get(k) != new.get(k))


def with_drift(status: dict[str, Any], fields: list[str], now: str, generation: int | None) -> dict[str, Any]:
    """Status carrying a SpecChangeIgnored condition: spec is immutable, the running work keeps the old spec."""
    new = copy.deepcopy(status)
    kept = [c for c in new.get("conditions", []) if c.get("type") != SPEC_CHANGE_IGNORED]
    kept.append(
        {
            "type": SPEC_CHANGE_IGNORED,
            "status": "True",
            "reason": "SpecImmutable",
            "message": f"spec.{', spec.'.join(fields)} changed after the job was accepted; the change is not "
            "applied to the running task (spec is immutable except spec.suspend: delete and re-create the job)",
            "lastTransitionTime": now,
            "observedGeneration": generation,
        }
    )
    new["conditions"] = kept
    return new
