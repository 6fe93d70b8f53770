"""Infrastructure endings read from stopCode and stoppedReason: which are retried (counted against backoffLimit)."""

import pytest

from odm_operator.plan.observed import ContainerState, ObservedTask
from odm_operator.plan.outcome import classify
from odm_operator.plan.reconcile import RETRYABLE_REASONS

HOST = "Host EC2 (instance i-0abc123def4567890) terminated."
PULL = (
    "CannotPullContainerError: pull image manifest has been retried 1 time(s): toomanyrequests: You have reached "
    "your pull rate limit."
)


def task(stop_code, reason, exits=None, container_reason=None):
    containers = {
        name: ContainerState(name, "STOPPED", (exits or {}).get(name), container_reason)
        for name in ("stage-in", "odm", "stage-out")
    }
    return ObservedTask("arn:t/1", "STOPPED", "STOPPED", stop_code, reason, containers=containers)


@pytest.mark.parametrize(
    ("observed", "spot", "kind", "reason"),
    [
        pytest.param(task(None, HOST), True, "retryable", "SpotInterruption", id="EC2 Spot host reclaimed"),
        pytest.param(
            task("EssentialContainerExited", HOST), True, "retryable", "SpotInterruption", id="any stop code"
        ),
        pytest.param(task(None, HOST), False, "retryable", "HostTerminated", id="on-demand host went away"),
        pytest.param(
            task(None, HOST, exits={"stage-in": 0}),
            True,
            "retryable",
            "SpotInterruption",
            id="stage-in had finished; ODM never exited",
        ),
        pytest.param(
            task(None, HOST, exits={"stage-in": 0, "odm": 1}),
            True,
            "failed",
            "OdmFailed",
            id="with exit codes the containers did end on their own: exit codes decide",
        ),
        pytest.param(
            task("TaskFailedToStart", PULL), False, "retryable", "ImagePullThrottled", id="toomanyrequests"
        ),
        pytest.param(
            task("TaskFailedToStart", "CannotPullContainerError", container_reason=PULL),
            False,
            "retryable",
            "ImagePullThrottled",
            id="throttling named in the container's reason",
        ),
        pytest.param(
            task("TaskFailedToStart", "CannotPullContainerError: repository does not exist"),
            False,
            "failed",
            "TaskFailedToStart",
            id="an image that does not exist is not retried",
        ),
    ],
)
def test_infrastructure_endings(observed, spot, kind, reason):
    outcome = classify(observed, "s3://in/", "s3://out/", spot=spot)
    assert (outcome.kind, outcome.reason) == (kind, reason), outcome.message
    if kind == "retryable":
        assert reason in RETRYABLE_REASONS, "a retryable outcome is counted against backoffLimit"
