"""A stopped task's outcome comes from its stopCode first, then the three containers in run order."""

import pytest

from odm_operator.plan.observed import ContainerState, ObservedTask, from_describe, missing, timestamp
from odm_operator.plan.outcome import classify


def task(stop_code="EssentialContainerExited", reason="Essential container in task exited", **exits):
    names = {"stage_in": "stage-in", "odm": "odm", "stage_out": "stage-out"}
    containers = {
        names[k]: ContainerState(names[k], "STOPPED", v, "no images found" if k == "stage_in" else None)
        for k, v in exits.items()
    }
    return ObservedTask("arn:t/1", "STOPPED", "STOPPED", stop_code, reason, containers=containers)


@pytest.mark.parametrize(
    ("observed", "kind", "reason", "fragment"),
    [
        (task(stage_in=0, odm=0, stage_out=0), "succeeded", "Succeeded", "products are in s3://out/"),
        (task(stage_in=1, odm=None, stage_out=None), "failed", "InputUnavailable", "no images found"),
        (task(stage_in=0, odm=137, stage_out=0), "failed", "OutOfMemory", "exit 137"),
        (task(stage_in=0, odm=1, stage_out=0), "failed", "OdmFailed", "ODM exited 1"),
        (task(stage_in=0, odm=0, stage_out=1), "failed", "OutputUploadFailed", "s3://out/"),
        (
            task("SpotInterruption", "Your Spot Task was interrupted.", stage_in=0, odm=143),
            "retryable",
            "SpotInterruption",
            "Spot",
        ),
        (task("TerminationNotice", "notice"), "retryable", "TerminationNotice", "termination notice"),
        (
            task("InfrastructureHealth", "unhealthy host"),
            "retryable",
            "InfrastructureHealth",
            "infrastructure",
        ),
        (
            task("TaskFailedToStart", "TaskFailedToStart: NO ACTIVE INSTANCES"),
            "retryable",
            "CapacityUnavailable",
            "NO ACTIVE INSTANCES",
        ),
        (
            task("TaskFailedToStart", "CannotPullContainerError: pull access denied"),
            "failed",
            "TaskFailedToStart",
            "CannotPullContainerError",
        ),
        (task("UserInitiated", "stopped by admin"), "stopped", "Stopped", "stopped by admin"),
        (missing("arn:t/1"), "retryable", "TaskMissing", "outcome is unknown"),
        (task(stage_in=0), "failed", "TaskStopped", "before ODM finished"),
    ],
)
def test_outcomes(observed, kind, reason, fragment):
    outcome = classify(observed, "s3://in/", "s3://out/")
    assert (outcome.kind, outcome.reason) == (kind, reason)
    assert fragment in outcome.message


def test_describe_tasks_entries_become_observed_tasks():
    raw = {
        "taskArn": "arn:aws:ecs:us-east-1:1:task/odm/abc",
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "stopCode": "EssentialContainerExited",
        "createdAt": 1767225600.0,
        "containers": [{"name": "odm", "exitCode": 0, "lastStatus": "STOPPED"}],
        "tags": [{"key": "odm-operator.io/attempt", "value": "2"}],
    }
    observed = from_describe(raw)
    assert observed.attempt == 2
    assert observed.exit_code("odm") == 0
    assert observed.exit_code("stage-out") is None
    assert observed.created_at == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (0, "1970-01-01T00:00:00Z"), ("2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00Z")],
)
def test_timestamps_are_rfc3339_utc(value, expected):
    assert timestamp(value) == expected
