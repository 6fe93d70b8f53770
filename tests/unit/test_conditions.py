"""The conditions GitOps tools read (Ready, Reconciling, Stalled), status.observedGeneration, and what kstatus (so
Flux) concludes from them. Pure: plan/status.py and plan/reconcile.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from odm_operator.api.validation import parse_spec
from odm_operator.plan import reconcile as plan
from odm_operator.plan.status import conditions, merge_patch, settled, with_drift, with_phase

from .helpers import owned_task

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
TIMING = plan.Timing(backoff_seconds=10, backoff_max_seconds=300, time_scale=1)
SPEC = {
    "input": {"s3Uri": "s3://in/x/"},
    "output": {"s3Uri": "s3://out/x/"},
    "resources": {"cpu": 4, "memory": "16Gi"},
    "capacity": {"type": "fargate"},
}


ObservedTask = owned_task  # the tasks of these tables are the job's own (startedBy)


def ts(delta_seconds: float = 0) -> str:
    return (NOW + timedelta(seconds=delta_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def kstatus(obj: dict[str, Any]) -> str:
    """kstatus's verdict for a custom resource, transcribed from kubernetes-sigs/cli-utils
    pkg/kstatus/status/{status,generic}.go (Compute -> checkGenericProperties): deletion, then generation against
    status.observedGeneration, then Reconciling=True, then Stalled=True; a CRD has no type-specific rules, so
    anything else is Current. Flux's health checks (wait: true, healthChecks) use it."""
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status") or {}
    generation = obj["metadata"].get("generation")
    if (
        generation is not None
        and "observedGeneration" in status
        and status["observedGeneration"] != generation
    ):
        return "InProgress"
    for condition in status.get("conditions", []):
        if condition["type"] == "Reconciling" and condition["status"] == "True":
            return "InProgress"
        if condition["type"] == "Stalled" and condition["status"] == "True":
            return "Failed"
    return "Current"


def by_type(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


@pytest.mark.parametrize(
    ("phase", "reason", "last_status", "ready", "reconciling", "stalled", "verdict"),
    [
        pytest.param(
            "Pending",
            "QuotaExceeded",
            None,
            ("False", "QuotaExceeded"),
            ("True", "QuotaExceeded"),
            ("False", "Pending"),
            "InProgress",
            id="held-by-the-namespace-quota-is-reconciling-with-the-quota-as-reason",
        ),
        pytest.param(
            "Starting",
            "Starting",
            "PROVISIONING",
            ("False", "Starting"),
            ("True", "ScalingOut"),
            ("False", "Starting"),
            "InProgress",
            id="a-task-waiting-in-provisioning-is-reconciling-because-capacity-scales-out",
        ),
        pytest.param(
            "Starting",
            "Starting",
            "PENDING",
            ("False", "Starting"),
            ("True", "Starting"),
            ("False", "Starting"),
            "InProgress",
            id="a-placed-task-pulling-images-is-reconciling-starting",
        ),
        pytest.param(
            "Starting",
            "SpotInterruption",
            "STOPPED",
            ("False", "SpotInterruption"),
            ("True", "SpotInterruption"),
            ("False", "Starting"),
            "InProgress",
            id="a-retry-after-a-spot-interruption-is-reconciling-not-stalled",
        ),
        pytest.param(
            "Running",
            "Running",
            "RUNNING",
            ("False", "Running"),
            ("True", "Running"),
            ("False", "Running"),
            "InProgress",
            id="a-running-job-is-reconciling",
        ),
        pytest.param(
            "Succeeded",
            "Succeeded",
            "STOPPED",
            ("True", "Succeeded"),
            ("False", "Succeeded"),
            ("False", "Succeeded"),
            "Current",
            id="only-success-makes-ready-true",
        ),
        pytest.param(
            "Failed",
            "OutOfMemory",
            "STOPPED",
            ("False", "OutOfMemory"),
            ("False", "Failed"),
            ("True", "OutOfMemory"),
            "Failed",
            id="a-failure-is-stalled-with-the-failure-reason-so-flux-fails-at-once",
        ),
        pytest.param(
            "Failed",
            "InvalidSpec",
            None,
            ("False", "InvalidSpec"),
            ("False", "Failed"),
            ("True", "InvalidSpec"),
            "Failed",
            id="an-invalid-spec-is-stalled-before-any-task",
        ),
        pytest.param(
            "Cancelled",
            "TaskStopped",
            "STOPPED",
            ("False", "TaskStopped"),
            ("False", "Cancelled"),
            ("True", "TaskStopped"),
            "Failed",
            id="a-task-stopped-outside-the-operator-is-stalled-nothing-retries-it",
        ),
        pytest.param(
            "Suspended",
            "Suspended",
            None,
            ("False", "Suspended"),
            ("False", "Suspended"),
            ("False", "Suspended"),
            "Current",
            id="a-suspended-job-is-neither-reconciling-nor-stalled",
        ),
    ],
)
def test_each_phase_shows_ready_reconciling_and_stalled(
    phase, reason, last_status, ready, reconciling, stalled, verdict
):
    before = {"aws": {"lastStatus": last_status}} if last_status else {}
    status = with_phase(before, phase, reason, f"because {reason}", ts(), 4)
    got = by_type(status)
    assert (got["Ready"], got["Reconciling"], got["Stalled"]) == (ready, reconciling, stalled)
    assert all(c["observedGeneration"] == 4 for c in status["conditions"])
    assert status["observedGeneration"] == 4
    assert kstatus({"metadata": {"generation": 4}, "status": status}) == verdict


def test_the_true_conditions_carry_the_jobs_message():
    status = with_phase({}, "Failed", "OutOfMemory", "ODM ran out of memory (exit 137)", ts(), 1)
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert stalled["message"] == "ODM ran out of memory (exit 137)"


def test_a_suspended_job_has_a_suspended_condition_that_turns_false_on_resume():
    suspended = plan.decide(view(suspend=True), None, NOW, TIMING).status
    assert by_type(suspended)["Suspended"] == ("True", "Suspended")
    resumed = plan.decide(view(suspended, generation=2), None, NOW, TIMING).status
    assert by_type(resumed)["Suspended"] == ("False", "Resumed")
    assert by_type(resumed)["Reconciling"] == ("True", "Starting")


def test_reconciling_keeps_its_transition_time_while_it_stays_true():
    starting = with_phase({"aws": {"lastStatus": "PROVISIONING"}}, "Starting", "Starting", "m", ts(-60), 1)
    running = with_phase({**starting, "aws": {"lastStatus": "RUNNING"}}, "Running", "Running", "m", ts(), 1)
    times = {c["type"]: c["lastTransitionTime"] for c in running["conditions"]}
    assert times["Reconciling"] == ts(-60)  # reason ScalingOut -> Running, status True throughout
    assert by_type(running)["Reconciling"] == ("True", "Running")
    done = with_phase(running, "Succeeded", "Succeeded", "m", ts(30), 1)
    times = {c["type"]: c["lastTransitionTime"] for c in done["conditions"]}
    assert times["Reconciling"] == ts(30) and times["Ready"] == ts(30) and times["Stalled"] == ts(-60)


def test_a_pass_that_changes_nothing_writes_nothing():
    status = plan.decide(view(running()), ObservedTask("arn:task/1", "RUNNING"), NOW, TIMING).status
    again = plan.decide(
        view(status), ObservedTask("arn:task/1", "RUNNING"), NOW + timedelta(seconds=5), TIMING
    )
    assert merge_patch(status, again.status) == {}


def test_a_finished_job_observes_a_new_generation_on_the_next_pass():
    done = with_phase({}, "Succeeded", "Succeeded", "m", ts(-10), 1)
    # spec.suspend set after the end (the one field that may change): no phase change, yet generation 2 is observed
    d = plan.decide(view(done, generation=2, suspend=True), None, NOW, TIMING)
    assert d.status["observedGeneration"] == 2
    assert {c["observedGeneration"] for c in d.status["conditions"]} == {2}
    assert merge_patch(done, d.status).keys() == {"observedGeneration", "conditions"}
    assert kstatus({"metadata": {"generation": 2}, "status": d.status}) == "Current"


def test_a_job_waiting_for_its_retry_backoff_observes_a_new_generation():
    waiting = plan.decide(view(running()), stopped_by_spot(), NOW, TIMING).status
    assert waiting["phase"] == "Starting" and waiting["observedGeneration"] == 1
    d = plan.decide(view(waiting, generation=2), None, NOW + timedelta(seconds=1), TIMING)
    assert d.actions == [] and d.status["observedGeneration"] == 2


def test_a_refused_spec_change_leaves_observed_generation_behind():
    status = plan.decide(view(running()), ObservedTask("arn:task/1", "RUNNING"), NOW, TIMING).status
    drifted = with_drift(status, ["input"], ts(1), 2)
    d = plan.decide(view(drifted, generation=2), ObservedTask("arn:task/1", "RUNNING"), NOW, TIMING)
    assert d.status["observedGeneration"] == 1
    refused = next(c for c in d.status["conditions"] if c["type"] == "SpecChangeIgnored")
    assert refused["observedGeneration"] == 2  # it did see generation 2, and says what it refused
    assert {c["observedGeneration"] for c in d.status["conditions"] if c["type"] != "SpecChangeIgnored"} == {
        1
    }
    assert kstatus({"metadata": {"generation": 2}, "status": d.status}) == "InProgress"


def test_conditions_recomputed_from_a_settled_status_are_the_same():
    status = with_phase({"aws": {"lastStatus": "RUNNING"}}, "Running", "Running", "m", ts(), 3)
    assert settled(status, ts(50), 3) == status
    assert conditions(status, ts(50), 3) == status["conditions"]


def test_a_status_without_a_phase_is_left_alone():
    assert settled({}, ts(), 1) == {}


# ----- helpers ---------------------------------------------------------------------------------------------------


def view(status: dict[str, Any] | None = None, generation: int = 1, **spec: Any) -> plan.JobView:
    return plan.JobView("ns", "job", "uid-1", generation, parse_spec({**SPEC, **spec}), status or {})


def running() -> dict[str, Any]:
    return {
        "phase": "Running",
        "observedGeneration": 1,
        "attempts": [{"number": 1, "taskArn": "arn:task/1", "startedAt": ts(-50)}],
        "aws": {"cluster": "odm", "taskArn": "arn:task/1"},
        "startTime": ts(-50),
    }


def stopped_by_spot() -> ObservedTask:
    return ObservedTask("arn:task/1", "STOPPED", "STOPPED", "SpotInterruption", "spot", stopped_at=ts(-1))


# ----- Events (plan/status.py phase_events), read by `kubectl describe odmj` ---------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            {},
            {"phase": "Starting", "reason": "Starting", "message": "starting attempt 1"},
            [("Normal", "Starting", "starting attempt 1")],
            id="a-start-is-normal",
        ),
        pytest.param(
            {"phase": "Running", "reason": "Running"},
            {"phase": "Starting", "reason": "SpotInterruption", "message": "attempt 1 ended: ...; retrying"},
            [("Warning", "SpotInterruption", "attempt 1 ended: ...; retrying")],
            id="an-attempt-that-ended-badly-is-a-warning-even-when-retried",
        ),
        pytest.param(
            {},
            {"phase": "Pending", "reason": "QuotaExceeded", "message": "waits"},
            [("Normal", "QuotaExceeded", "waits")],
            id="waiting-for-the-namespace-quota-is-normal",
        ),
        pytest.param(
            {"phase": "Running", "reason": "Running"},
            {"phase": "Failed", "reason": "OutOfMemory", "message": "exit 137"},
            [("Warning", "OutOfMemory", "exit 137")],
            id="a-failure-is-a-warning",
        ),
        pytest.param(
            {"phase": "Running", "reason": "Running"},
            {"phase": "Cancelled", "reason": "TaskStopped", "message": "stopped"},
            [("Warning", "TaskStopped", "stopped")],
            id="a-cancellation-is-a-warning",
        ),
        pytest.param(
            {"phase": "Suspended", "reason": "Suspended"},
            {"phase": "Starting", "reason": "Starting", "message": "starting attempt 2"},
            [
                ("Normal", "Resumed", "spec.suspend is false: the job runs again"),
                ("Normal", "Starting", "starting attempt 2"),
            ],
            id="resuming-says-so-as-a-job-does",
        ),
        pytest.param(
            {"phase": "Running", "reason": "Running", "message": "a"},
            {"phase": "Running", "reason": "Running", "message": "b"},
            [],
            id="no-event-without-a-phase-or-reason-change",
        ),
    ],
)
def test_a_status_change_posts_the_events_a_job_would(old, new, expected):
    from odm_operator.plan.status import phase_events

    assert phase_events(old, new) == expected
