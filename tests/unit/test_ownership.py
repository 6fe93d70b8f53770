"""A job touches only its own tasks: the task ARN in status can be written by others, so the task's own startedBy
(and job-uid tag, when described with tags) decides, from the answer the tracker already has."""

from datetime import UTC, datetime, timedelta

import pytest

from odm_operator.api.validation import parse_spec
from odm_operator.plan import reconcile as plan
from odm_operator.plan.observed import ObservedTask, from_describe, missing
from odm_operator.plan.ownership import foreign

UID = "uid-1"
NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
TIMING = plan.Timing(
    backoff_seconds=10, backoff_max_seconds=300, time_scale=1, provisioning_timeout_seconds=60
)
ARN = "arn:aws:ecs:us-east-1:123456789012:task/odm/victim"


def ts(delta=0):
    return (NOW + timedelta(seconds=delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("task", "mine"),
    [
        pytest.param(ObservedTask(ARN, "RUNNING", started_by="odm/uid-1"), True, id="started by this job"),
        pytest.param(
            ObservedTask(ARN, "RUNNING", started_by="odm/uid-2"), False, id="started by another job"
        ),
        pytest.param(ObservedTask(ARN, "RUNNING"), False, id="started by nobody the operator knows"),
        pytest.param(
            ObservedTask(ARN, "RUNNING", started_by="odm/uid-1", tags={"odm-operator.io/job-uid": "uid-1"}),
            True,
            id="startedBy and tag agree",
        ),
        pytest.param(
            ObservedTask(ARN, "RUNNING", started_by="odm/uid-1", tags={"odm-operator.io/job-uid": "uid-2"}),
            False,
            id="described with tags naming another job",
        ),
        pytest.param(
            ObservedTask(ARN, "RUNNING", started_by="odm/uid-1", tags={"team": "a"}),
            False,
            id="described with tags but no job-uid tag",
        ),
        pytest.param(missing(ARN), True, id="a task ECS forgot is nobody's: nothing to stop"),
        pytest.param(
            from_describe({"taskArn": ARN, "lastStatus": "RUNNING", "startedBy": "odm/uid-1"}),
            True,
            id="startedBy read from the DescribeTasks answer",
        ),
    ],
)
def test_a_task_is_the_jobs_only_when_its_own_record_says_so(task, mine):
    why = foreign(task, UID)
    assert (why is None) == mine
    if why:
        assert ARN in why


def view(status, **spec):
    body = {
        "input": {"s3Uri": "s3://in/x/"},
        "output": {"s3Uri": "s3://out/x/"},
        "resources": {"cpu": 4, "memory": "16Gi"},
        "capacity": {"type": "fargate"},
        **spec,
    }
    return plan.JobView("tenant", "attacker", UID, 1, parse_spec(body), status)


def tampered(**extra):
    """Status as a tenant who may patch odmjobs/status wrote it: the attempt names another job's task."""
    return {
        "phase": "Running",
        "attempts": [{"number": 1, "taskArn": ARN, "startedAt": ts(-500)}],
        "aws": {"cluster": "odm", "taskArn": ARN},
        "startTime": ts(-500),
        **extra,
    }


VICTIM_RUNNING = ObservedTask(ARN, "RUNNING", started_by="odm/victim-uid")
VICTIM_STOPPED = ObservedTask(
    ARN, "STOPPED", stop_code="EssentialContainerExited", started_by="odm/victim-uid"
)
VICTIM_WAITING = ObservedTask(ARN, "PROVISIONING", created_at=ts(-500), started_by="odm/victim-uid")


@pytest.mark.parametrize(
    ("spec", "observed"),
    [
        pytest.param({"activeDeadlineSeconds": 60}, VICTIM_RUNNING, id="past the deadline: no StopTask"),
        pytest.param({"suspend": True}, VICTIM_RUNNING, id="suspended: no StopTask"),
        pytest.param({}, VICTIM_WAITING, id="past the provisioning timeout: no StopTask"),
        pytest.param({}, VICTIM_STOPPED, id="the victim's outcome is not taken"),
        pytest.param({}, VICTIM_RUNNING, id="the victim's progress is not shown"),
    ],
)
def test_a_foreign_task_in_status_is_reported_and_left_alone(spec, observed):
    d = plan.decide(view(tampered(), **spec), observed, NOW, TIMING)
    assert not any(isinstance(a, plan.Stop) for a in d.actions)
    assert d.actions[0] == plan.Forget(ARN), "only this job's tracking of the ARN is dropped"
    assert [type(a) for a in d.actions[1:]] == [plan.StopOwn], (
        "its own tasks, found by startedBy, are stopped"
    )
    assert (d.status["phase"], d.status["reason"]) == ("Failed", "ForeignTask")
    assert "odm/victim-uid" in d.status["message"] and "did not stop" in d.status["message"]
    assert "progress" not in d.status and "exitCode" not in d.status["attempts"][0]


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"activeDeadlineSeconds": 60}, id="deadline"),
        pytest.param({"suspend": True}, id="suspend"),
    ],
)
def test_a_task_not_yet_described_is_not_stopped_blind(spec):
    d = plan.decide(view(tampered(), **spec), None, NOW, TIMING)
    assert d.actions == [plan.Watch("odm", ARN)], "described first, so its startedBy can be checked"
    assert d.status["phase"] == "Running"


def test_the_jobs_own_task_is_still_stopped_at_its_deadline():
    own = ObservedTask(ARN, "RUNNING", started_by="odm/uid-1")
    d = plan.decide(view(tampered(), activeDeadlineSeconds=60), own, NOW, TIMING)
    assert any(isinstance(a, plan.Stop) and a.task_arn == ARN for a in d.actions)
    assert d.status["reason"] == "DeadlineExceeded"
