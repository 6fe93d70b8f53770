"""AWS misbehaving: throttling and 500s on every call, a terminal AccessDenied, a StopTask that keeps failing, and
ECS forgetting a task while the operator was down. Faults are injected by the sandbox's AWS front (the operator's
botocore sees real error responses and runs its real retries), never by patching the operator.

FAULT_JOBS sets the size of the mixed run under faults (``make chaos`` runs it with 200).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import pytest

from odm_operator.aws.clients import TOTAL_MAX_ATTEMPTS
from odm_sandbox.aws.faults import FaultRule

from ..chaos.harness import STOPPED_RETENTION_S, ChaosRun, Config
from ..chaos.ledger import TaskLedger
from .conftest import E2E, odmjob

pytestmark = pytest.mark.e2e

FAULT_JOBS = int(os.environ.get("FAULT_JOBS", "12"))
FAULT_SEED = int(os.environ.get("FAULT_SEED", "7"))
# AWS's own wording when an identity-based policy lacks an action (IAM User Guide, "Troubleshoot access denied
# error messages"): the role lacks ecs:RunTask, or iam:PassRole for the task's role.
PRINCIPAL = "User: arn:aws:sts::123456789012:assumed-role/odm-operator/botocore-session-1"
DENIED = {
    "ecs:RunTask": f"{PRINCIPAL} is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:us-east-1:"
    "123456789012:task-definition/odm-0123abcd:1 because no identity-based policy allows the ecs:RunTask action",
    "iam:PassRole": f"{PRINCIPAL} is not authorized to perform: iam:PassRole on resource: arn:aws:iam::"
    "123456789012:role/odm-task because no identity-based policy allows the iam:PassRole action",
}


@pytest.fixture
def faults(e2e: E2E):
    yield e2e.stack.aws.faults
    e2e.stack.aws.faults.clear()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


@pytest.fixture
def realistic_retention(e2e: E2E):
    """Keep stopped tasks as long, next to the operator's retry stalls, as ECS does.

    With 20% throttling and 5% 500s, botocore's retries (5 attempts, backoff up to ~20 s) can hold the tracker for
    ten seconds of real time: nothing on real ECS, which keeps a stopped task for an hour, but 100 simulated
    minutes at the e2e clock (600x), past the simulated hour. The chaos harness keeps stopped tasks longer on its
    own stack for the same reason; what the operator does when ECS did forget a task is tested on its own below."""
    before = e2e.stack.aws.agent.timings
    e2e.stack.aws.set_timings(dataclasses.replace(before, stopped_retention_s=STOPPED_RETENTION_S))
    yield
    e2e.stack.aws.set_timings(before)


def test_under_20_percent_throttling_and_5_percent_500s_every_job_finishes_with_no_duplicate_task(
    e2e: E2E, realistic_retention: None
):
    ns = e2e.namespace()
    config = Config(jobs=FAULT_JOBS, seed=FAULT_SEED, throttle=0.20, server_errors=0.05, timeout=240)
    report = ChaosRun(e2e.stack, ns, config).run()
    print(f"\nAWS faults: {report.summary()}")
    assert report.problems == [], "\n".join(report.problems)
    assert report.aws_faults >= 0.15 * report.aws_calls, "the faults were injected"
    assert report.run_tasks >= FAULT_JOBS // 2


@pytest.mark.parametrize("permission", sorted(DENIED))
def test_access_denied_on_run_task_fails_the_job_naming_the_missing_permission(e2e: E2E, faults, permission):
    ns = e2e.namespace()
    faults.add(FaultRule("ecs:RunTask", code="AccessDeniedException", status=400, message=DENIED[permission]))
    e2e.quiet()
    before = e2e.calls().get("ecs:RunTask", 0)
    e2e.apply(odmjob("denied", ns))
    status = e2e.wait_phase(ns, "denied", "Failed", "Succeeded", timeout=30)["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "AccessDenied"), status
    assert f"not authorized to perform: {permission}" in status["message"], status["message"]
    assert e2e.calls().get("ecs:RunTask", 0) - before == 1, "a terminal error is neither retried nor repeated"
    assert e2e.tasks_of(e2e.get(ns, "denied")["metadata"]["uid"]) == []


def test_a_stop_task_that_fails_past_the_retries_when_a_job_is_suspended_is_repeated(e2e: E2E, faults):
    ns = e2e.namespace()
    obj = odmjob("pause", ns, resources={"cpu": 16, "memory": "64Gi"})
    obj["spec"]["input"]["s3Uri"] = "s3://odm-sandbox-input/medium/"  # ~20 s of ODM: it cannot end by itself
    e2e.apply(obj)
    uid = e2e.wait_phase(ns, "pause", "Running")["metadata"]["uid"]
    # Every attempt botocore makes for the first StopTask fails: the operator gets the error, not a retry.
    faults.add(
        FaultRule("ecs:StopTask", code="ServiceUnavailableException", status=503, count=TOTAL_MAX_ATTEMPTS)
    )
    e2e.kubectl("patch", "odmjob", "pause", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    e2e.wait_phase(ns, "pause", "Suspended")
    with TaskLedger(e2e.stack.aws) as ledger:
        wait_for(lambda: not ledger.running({uid}), 10, "the task of the suspended job stopped")
    [task] = e2e.tasks_of(uid)
    assert task["stopCode"] == "UserInitiated" and "spec.suspend" in task["stoppedReason"]


def test_a_task_ecs_forgot_while_the_operator_was_down_is_retried_instead_of_awaited_forever(e2e: E2E):
    ns = e2e.namespace()
    stack = e2e.stack
    timings = stack.aws.agent.timings
    obj = odmjob("forgot", ns)
    e2e.apply(obj)
    job = e2e.wait_phase(ns, "forgot", "Running")
    arn = job["status"]["attempts"][0]["taskArn"]
    stack.kill_operator(signal.SIGKILL)
    try:
        # ECS forgets a stopped task after about an hour; this operator is down for longer than that.
        stack.aws.set_timings(dataclasses.replace(timings, stopped_retention_s=60.0))
        with TaskLedger(stack.aws) as ledger:
            wait_for(lambda: arn not in ledger.states(), 30, "ECS forgot the task")
    finally:
        stack.aws.set_timings(timings)
        stack.start_operator()
    status = e2e.wait_phase(ns, "forgot", "Succeeded", "Failed", timeout=60)["status"]
    assert status["phase"] == "Succeeded", status
    first, second = status["attempts"]
    assert first["taskArn"] == arn and first["reason"] == "TaskMissing", first
    assert "no longer" in first["stoppedReason"]
    assert second["reason"] == "Succeeded"
