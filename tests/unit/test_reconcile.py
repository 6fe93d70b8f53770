"""The reconciler's decisions, pure: from a job's status, its task's observed state and the clock."""

from datetime import UTC, datetime, timedelta

import pytest

from odm_operator.api.validation import parse_spec
from odm_operator.plan import launch
from odm_operator.plan import reconcile as plan
from odm_operator.plan.observed import ContainerState, missing
from odm_operator.plan.status import conditions, merge_patch, only_live_fields_changed, spec_drift, with_drift

from .helpers import owned_task

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
TIMING = plan.Timing(backoff_seconds=10, backoff_max_seconds=300, time_scale=1)
SPEC = {
    "input": {"s3Uri": "s3://in/x/"},
    "output": {"s3Uri": "s3://out/x/"},
    "resources": {"cpu": 4, "memory": "16Gi"},
    "capacity": {"type": "fargate"},
    "backoffLimit": 1,
}


ObservedTask = owned_task  # the tasks of these tables are the job's own (startedBy)


def view(status=None, errors=(), **spec_changes):
    spec = parse_spec({**SPEC, **spec_changes}) if not errors else None
    return plan.JobView("ns", "job", "uid-1", 1, spec, status or {}, tuple(errors))


def ts(delta_seconds=0):
    return (NOW + timedelta(seconds=delta_seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def running_status(number=1, arn="arn:task/1", **extra):
    attempts = [
        {"number": n, "taskArn": f"arn:task/{n}", "finishedAt": ts(-100), "reason": "SpotInterruption"}
        for n in range(1, number)
    ]
    attempts.append({"number": number, "taskArn": arn, "startedAt": ts(-50)})
    return {
        "phase": "Running",
        "attempts": attempts,
        "aws": {"cluster": "odm", "taskArn": arn},
        "startTime": ts(-50),
        **extra,
    }


def stopped(arn="arn:task/1", stop_code="EssentialContainerExited", **exits):
    containers = {n: ContainerState(n, "STOPPED", c, None) for n, c in exits.items()}
    return ObservedTask(
        arn, "STOPPED", "STOPPED", stop_code, "reason", stopped_at=ts(-1), containers=containers
    )


def test_an_invalid_spec_fails_with_invalid_spec_and_no_action():
    d = plan.decide(view(errors=["spec.backoffLimit: too big"]), None, NOW, TIMING)
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "InvalidSpec")
    assert "spec.backoffLimit" in d.status["message"]
    assert d.actions == []


def test_a_new_job_records_attempt_one_in_flight_and_starts_it():
    d = plan.decide(view(), None, NOW, TIMING)
    assert d.status["attempts"] == [{"number": 1}]
    assert d.status["phase"] == "Starting"
    assert d.actions == [plan.Start(1)]


def test_an_in_flight_attempt_without_an_arn_is_adopted_not_restarted():
    status = {"phase": "Starting", "attempts": [{"number": 1}], "aws": {"cluster": "odm"}}
    d = plan.decide(view(status), None, NOW, TIMING)
    assert d.actions == [plan.Adopt(1)]


def test_a_task_not_yet_observed_is_watched():
    d = plan.decide(view(running_status()), None, NOW, TIMING)
    assert d.actions == [plan.Watch("odm", "arn:task/1")]


@pytest.mark.parametrize(
    ("last_status", "phase", "capacity_ready"),
    [("PROVISIONING", "Starting", "False"), ("PENDING", "Starting", "True"), ("RUNNING", "Running", "True")],
)
def test_task_states_map_to_phases(last_status, phase, capacity_ready):
    observed = ObservedTask("arn:task/1", last_status)
    d = plan.decide(view(running_status()), observed, NOW, TIMING)
    assert d.status["phase"] == phase
    ready = next(c for c in d.status["conditions"] if c["type"] == "CapacityReady")
    assert ready["status"] == capacity_ready


def test_success_finishes_the_attempt_and_forgets_the_task():
    d = plan.decide(view(running_status()), stopped(**{"stage-in": 0, "odm": 0, "stage-out": 0}), NOW, TIMING)
    assert (d.status["phase"], d.status["reason"]) == ("Succeeded", "Succeeded")
    assert d.status["attempts"][-1]["finishedAt"] == ts(-1)
    assert d.status["completionTime"] == ts()
    assert d.actions == [plan.Forget("arn:task/1"), plan.CollectOutputs("s3://out/x/")]
    assert d.status["progress"] == {"percent": 100, "stage": "completed"}
    assert {c["type"]: c["status"] for c in d.status["conditions"]}["Complete"] == "True"


def test_out_of_memory_fails_at_once_when_the_policy_says_fail_and_records_the_exit_code():
    oom = stopped(**{"stage-in": 0, "odm": 137, "stage-out": 0})
    d = plan.decide(view(running_status(), retryPolicy={"onOutOfMemory": "fail"}), oom, NOW, TIMING)
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "OutOfMemory")
    assert d.status["attempts"][-1]["exitCode"] == 137


def test_a_spot_interruption_waits_for_backoff_then_starts_the_next_attempt():
    observed = stopped(stop_code="SpotInterruption")
    d = plan.decide(view(running_status()), observed, NOW, TIMING)
    assert d.actions == [plan.Forget("arn:task/1")]
    assert d.status["phase"] == "Starting" and d.status["reason"] == "SpotInterruption"
    assert d.requeue_after == pytest.approx(9, abs=1.01)
    later = plan.decide(view(d.status), None, NOW + timedelta(seconds=11), TIMING)
    assert later.actions == [plan.Start(2)]


def test_a_task_ecs_no_longer_knows_ends_the_attempt_and_is_retried():
    d = plan.decide(view(running_status()), missing("arn:task/1"), NOW, TIMING)
    assert d.actions == [plan.Forget("arn:task/1")]
    attempt = d.status["attempts"][0]
    assert (
        attempt["reason"] == "TaskMissing"
        and attempt["finishedAt"]
        and "no longer" in attempt["stoppedReason"]
    )
    assert d.status["aws"]["lastStatus"] == "MISSING"
    later = plan.decide(view(d.status), None, NOW + timedelta(seconds=11), TIMING)
    assert later.actions == [plan.Start(2)]


def test_past_the_backoff_limit_the_job_fails():
    status = running_status(number=2, arn="arn:task/2")
    d = plan.decide(view(status), stopped("arn:task/2", stop_code="SpotInterruption"), NOW, TIMING)
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert "backoffLimit is 1" in d.status["message"]


def test_the_deadline_stops_the_task_and_fails_the_job():
    status = running_status(startTime=ts(-120))
    d = plan.decide(
        view(status, activeDeadlineSeconds=60), ObservedTask("arn:task/1", "RUNNING"), NOW, TIMING
    )
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "DeadlineExceeded")
    assert isinstance(d.actions[0], plan.Stop) and d.actions[0].task_arn == "arn:task/1"


def test_time_scale_makes_the_deadline_pass_sooner():
    status = running_status(startTime=ts(-2))
    fast = plan.Timing(time_scale=60)
    d = plan.decide(view(status, activeDeadlineSeconds=60), ObservedTask("arn:task/1", "RUNNING"), NOW, fast)
    assert d.status["reason"] == "DeadlineExceeded"


def test_suspend_before_start_runs_nothing():
    d = plan.decide(view(suspend=True), None, NOW, TIMING)
    assert d.status["phase"] == "Suspended"
    assert d.actions == []


def test_suspend_while_running_stops_the_task_and_resume_starts_a_new_attempt():
    d = plan.decide(view(running_status(), suspend=True), ObservedTask("arn:task/1", "RUNNING"), NOW, TIMING)
    assert d.status["phase"] == "Suspended"
    assert isinstance(d.actions[0], plan.Stop)
    assert "startTime" not in d.status
    resumed = plan.decide(view(d.status), None, NOW, TIMING)
    assert resumed.actions == [plan.Start(2)]


def test_ttl_deletes_a_finished_job_when_due():
    status = {"phase": "Succeeded", "completionTime": ts(-100)}
    assert plan.decide(view(status, ttlSecondsAfterFinished=50), None, NOW, TIMING).actions == [
        plan.DeleteJob()
    ]
    pending = plan.decide(view(status, ttlSecondsAfterFinished=500), None, NOW, TIMING)
    assert pending.actions == [] and pending.requeue_after == pytest.approx(400)


def test_a_finished_job_without_ttl_does_nothing():
    d = plan.decide(view({"phase": "Failed", "reason": "OdmFailed"}), None, NOW, TIMING)
    assert d.actions == [] and d.requeue_after is None


def test_conditions_keep_their_transition_time_while_unchanged():
    first = conditions({"phase": "Running", "aws": {"lastStatus": "RUNNING"}}, ts(-60), 1)
    again = conditions({"phase": "Running", "aws": {"lastStatus": "RUNNING"}, "conditions": first}, ts(), 1)
    assert {c["type"]: c["lastTransitionTime"] for c in again}["Running"] == ts(-60)
    done = conditions({"phase": "Succeeded", "conditions": again}, ts(), 1)
    by_type = {c["type"]: c for c in done}
    assert by_type["Running"]["status"] == "False" and by_type["Running"]["lastTransitionTime"] == ts()


def test_merge_patch_is_empty_when_nothing_changed_and_minimal_otherwise():
    status = {"phase": "Running", "progress": {"percent": 5}}
    assert merge_patch(status, dict(status)) == {}
    assert merge_patch(status, {"phase": "Running", "progress": {"percent": 25}}) == {
        "progress": {"percent": 25}
    }
    assert merge_patch(status, {"phase": "Running"}) == {"progress": None}


def test_after_run_task_records_the_arn_with_the_attempt():
    status = {"phase": "Starting", "attempts": [{"number": 1}]}
    task = ObservedTask("arn:aws:ecs:r:1:task/odm/abc", "PROVISIONING", created_at=ts())
    new = launch.after_run_task(status, 1, task, NOW, 1, "odm")
    assert new["attempts"] == [{"number": 1, "taskArn": task.arn, "startedAt": ts()}]
    assert new["aws"]["logStream"] == "odm/odm/abc"
    assert new["startTime"] == ts()


@pytest.mark.parametrize(
    ("old", "new", "fields"),
    [
        ({"suspend": False, "backoffLimit": 1}, {"suspend": True, "backoffLimit": 1}, []),
        ({"input": {"s3Uri": "s3://a/x/"}}, {"input": {"s3Uri": "s3://a/y/"}}, ["input"]),
        ({"backoffLimit": 1}, {"backoffLimit": 1, "resources": {"cpu": 2, "memory": "4Gi"}}, ["resources"]),
        (None, {"suspend": True}, []),
    ],
)
def test_spec_drift_names_changed_fields_except_suspend(old, new, fields):
    assert spec_drift(old, new) == fields


def test_drift_is_reported_in_a_condition_and_replaces_an_older_report():
    status = with_drift({"phase": "Running", "conditions": []}, ["input"], ts(), 2)
    status = with_drift(status, ["input", "resources"], ts(5), 3)
    [condition] = [c for c in status["conditions"] if c["type"] == "SpecChangeIgnored"]
    assert condition["reason"] == "SpecImmutable" and "spec.input, spec.resources" in condition["message"]
    assert condition["observedGeneration"] == 3
    survived = conditions({**status, "phase": "Running"}, ts(10), 3)
    assert any(c["type"] == "SpecChangeIgnored" for c in survived)


def test_a_policy_violation_fails_with_its_own_reason():
    job = plan.JobView(
        "ns", "job", "uid-1", 1, parse_spec(SPEC), {}, policy_errors=("spec.capacity.spot: no",)
    )
    d = plan.decide(job, None, NOW, TIMING)
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "PolicyViolation")
    assert {c["type"]: c["status"] for c in d.status["conditions"]}["Accepted"] == "False"
    assert d.actions == []


def test_a_task_provisioning_past_the_timeout_is_stopped_and_the_job_fails():
    waiting = ObservedTask("arn:task/1", "PROVISIONING", created_at=ts(-1300), capacity_provider="odm-abc")
    d = plan.decide(view(running_status()), waiting, NOW, TIMING)
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "CapacityUnavailable")
    assert "maxInstances" in d.status["message"] and "odm-abc" in d.status["message"]
    assert isinstance(d.actions[0], plan.Stop)
    fresh = ObservedTask("arn:task/1", "PROVISIONING", created_at=ts(-60))
    assert plan.decide(view(running_status()), fresh, NOW, TIMING).status["phase"] == "Starting"


def test_the_first_out_of_memory_failure_is_retried_when_escalating_and_the_second_fails():
    oom = stopped(**{"stage-in": 0, "odm": 137, "stage-out": 0})
    d = plan.decide(view(running_status()), oom, NOW, TIMING)
    assert d.status["phase"] == "Starting" and d.status["reason"] == "OutOfMemory"
    assert plan.escalations(d.status) == 1
    later = plan.decide(view(d.status), None, NOW + timedelta(seconds=11), TIMING)
    assert later.actions == [plan.Start(2)]
    second = running_status(number=2, arn="arn:task/2")
    second["attempts"][0]["reason"] = "OutOfMemory"
    d2 = plan.decide(view(second, backoffLimit=5), stopped("arn:task/2", **{"odm": 137}), NOW, TIMING)
    assert (d2.status["phase"], d2.status["reason"]) == ("Failed", "OutOfMemory")


def test_progress_from_the_tracker_is_shown_while_running():
    observed = ObservedTask("arn:task/1", "RUNNING", progress=("openmvs", 25))
    d = plan.decide(view(running_status()), observed, NOW, TIMING)
    assert d.status["progress"] == {"percent": 25, "stage": "openmvs"}


def test_a_stale_observation_does_not_count_as_waiting_for_capacity():
    stale = ObservedTask(
        "arn:task/1", "PROVISIONING", created_at=ts(-1300), observed_at=ts(-1290), capacity_provider="FARGATE"
    )
    assert plan.decide(view(running_status()), stale, NOW, TIMING).status["phase"] == "Starting"
    assert stale == ObservedTask(
        "arn:task/1", "PROVISIONING", created_at=ts(-1300), observed_at=ts(), capacity_provider="FARGATE"
    ), "the observation time is not a change of the task"


@pytest.mark.parametrize(
    ("old", "new", "live_only"),
    [
        (
            {"aws": {"lastStatus": "PENDING", "taskArn": "t"}},
            {"aws": {"lastStatus": "ACTIVATING", "taskArn": "t"}},
            True,
        ),
        ({"aws": {"taskArn": "t"}}, {"aws": {"lastStatus": "RUNNING", "taskArn": "t"}}, True),
        ({"aws": {"lastStatus": "PENDING"}}, {"aws": {"lastStatus": "PENDING", "taskArn": "t"}}, False),
        (
            {"phase": "Starting", "aws": {"lastStatus": "PENDING"}},
            {"phase": "Running", "aws": {"lastStatus": "RUNNING"}},
            False,
        ),
        (
            {"message": "a", "aws": {"lastStatus": "PENDING"}},
            {"message": "b", "aws": {"lastStatus": "PENDING"}},
            False,
        ),
        ({"aws": {"lastStatus": "PENDING"}}, {"aws": {"lastStatus": "PENDING"}}, False),
    ],
)
def test_only_a_passing_ecs_state_is_not_worth_a_status_write_on_its_own(old, new, live_only):
    assert only_live_fields_changed(old, new) is live_only
