"""RunTask's answer as an observation: it describes the task at its creation, so a RunTask replayed with the same
clientToken (the restart after an operator died between RunTask and its status write) never looks like a task that
has waited for capacity since then. Found by tests/e2e/test_restart.py failing under load with CapacityUnavailable
("waited 1800s") for a task that had already succeeded."""

from datetime import UTC, datetime, timedelta

import pytest

from odm_operator.api.validation import parse_spec
from odm_operator.plan import reconcile as plan
from odm_operator.plan.observed import from_describe, from_run_task

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
# 1 real second is 600 simulated ones, as in the e2e tests: a few seconds of real delay pass the 1200 s timeout.
TIMING = plan.Timing(
    backoff_seconds=10, backoff_max_seconds=300, time_scale=600, provisioning_timeout_seconds=1200
)
SPEC = {
    "input": {"s3Uri": "s3://in/x/"},
    "output": {"s3Uri": "s3://out/x/"},
    "resources": {"cpu": 4, "memory": "16Gi"},
    "capacity": {"type": "fargate"},
}


def at(delta_seconds: float) -> datetime:
    return NOW + timedelta(seconds=delta_seconds)


def answer(created: datetime | None) -> dict:
    task = {
        "taskArn": "arn:aws:ecs:us-east-1:1:task/odm/1",
        "lastStatus": "PROVISIONING",
        "desiredStatus": "RUNNING",
        "startedBy": "odm/uid-1",
        "capacityProviderName": "FARGATE",
    }
    if created is not None:
        task["createdAt"] = created
    return task


def job_status() -> dict:
    arn = "arn:aws:ecs:us-east-1:1:task/odm/1"
    return {
        "phase": "Starting",
        "attempts": [{"number": 1, "taskArn": arn, "startedAt": "2026-11-21T11:59:56Z"}],
        "aws": {"cluster": "odm", "taskArn": arn},
    }


@pytest.mark.parametrize(
    ("created", "phase"),
    [
        pytest.param(at(0), "Starting", id="a fresh answer: created now, nothing waited"),
        pytest.param(
            at(-4),
            "Starting",
            id="a replayed answer 4 real s old (2400 simulated): still not a wait, only DescribeTasks says so",
        ),
        pytest.param(None, "Starting", id="an answer without createdAt counts as seen now, so waited 0"),
    ],
)
def test_a_run_task_answer_never_fails_a_job_for_want_of_capacity(created, phase):
    observed = from_run_task(answer(created), NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
    job = plan.JobView("ns", "job", "uid-1", 1, parse_spec(SPEC), job_status(), ())
    assert plan.decide(job, observed, NOW, TIMING).status["phase"] == phase


def test_the_same_task_seen_by_describe_tasks_4_s_later_still_provisioning_does_fail():
    """The check this file's cases must not weaken: a current observation past the timeout fails the job."""
    observed = from_describe(answer(at(-4)), observed_at=NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
    job = plan.JobView("ns", "job", "uid-1", 1, parse_spec(SPEC), job_status(), ())
    decision = plan.decide(job, observed, NOW, TIMING)
    assert (decision.status["phase"], decision.status["reason"]) == ("Failed", "CapacityUnavailable")
