"""A stopped task's outcome comes from its stopCode first, then the three containers in run order."""

import dataclasses

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
        (
            task(stage_in=0, odm=1, stage_out=0),
            "failed",
            "OdmFailed",
            "could not process the dataset (exit 1)",
        ),
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


@pytest.mark.parametrize(
    ("code", "reason", "fragment", "why"),
    [
        (1, "OdmFailed", "could not process the dataset", "ODM/NodeODM: cannot process dataset"),
        (2, "OdmBadArguments", "refused its command line", "argparse"),
        (3, "OdmInstallationIssue", "could not find a program", "NodeODM: installation issue"),
        (132, "CpuUnsupported", "CPU is not supported", "illegal instruction"),
        (134, "OdmAborted", "aborted", "SIGABRT, often bad_alloc"),
        (137, "OutOfMemory", "ran out of memory", "stays OutOfMemory (escalates)"),
        (139, "OdmCrashed", "segmentation fault", "SIGSEGV"),
        (77, "OdmFailed", "ODM exited 77", "any other code"),
    ],
)
def test_each_odm_exit_code_has_its_own_reason(code, reason, fragment, why):
    outcome = classify(task(stage_in=0, odm=code, stage_out=0))
    assert (outcome.kind, outcome.reason, outcome.exit_code) == ("failed", reason, code), why
    assert fragment in outcome.message, why


def test_a_full_disk_seen_in_odms_log_advises_raising_the_disk():
    observed = dataclasses.replace(task(stage_in=0, odm=1, stage_out=0), odm_hint="disk-full")
    outcome = classify(observed)
    assert outcome.reason == "DiskFull"
    assert "spec.resources.disk" in outcome.message
