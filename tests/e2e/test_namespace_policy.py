"""Namespace policy: jobs outside it fail with PolicyViolation before any AWS call; the concurrency quota makes
jobs wait in Pending (QuotaExceeded) and start in creation order."""

from __future__ import annotations

import time

import pytest

from .conftest import E2E, odmjob
from .test_lifecycle import job_calls

pytestmark = pytest.mark.e2e
ROLE = "arn:aws:iam::123456789012:role/odm-restricted-jobs"


def restricted(name: str, **spec):
    obj = odmjob(name, "restricted", taskRoleArn=ROLE)
    obj["spec"]["output"]["s3Uri"] = f"s3://odm-sandbox-output/restricted/{name}/"
    obj["spec"].update(spec)
    return obj


@pytest.fixture(scope="module")
def namespaces(stack):
    e2e = E2E(stack, stack.state_dir)
    for ns in ("restricted", "quota"):
        e2e.kubectl("create", "namespace", ns)
    return e2e


def test_a_job_inside_the_policy_runs(namespaces: E2E):
    e2e = namespaces
    e2e.apply(restricted("fine"))
    status = e2e.wait_phase("restricted", "fine", "Succeeded", "Failed")["status"]
    assert status["phase"] == "Succeeded", status


@pytest.mark.parametrize(
    ("name", "spec", "path", "rule"),
    [
        ("img", {"odm": {"image": "evil/odm:latest"}}, "spec.odm.image", "allowedImages"),
        (
            "inp",
            {"input": {"s3Uri": "s3://odm-sandbox-input/medium/"}},
            "spec.input.s3Uri",
            "allowedInputPrefixes",
        ),
        (
            "outp",
            {"output": {"s3Uri": "s3://odm-sandbox-output/other/"}},
            "spec.output.s3Uri",
            "allowedOutputPrefixes",
        ),
        (
            "role",
            {"taskRoleArn": "arn:aws:iam::123456789012:role/admin"},
            "spec.taskRoleArn",
            "allowedTaskRoles",
        ),
        ("big", {"resources": {"cpu": 8, "memory": "16Gi"}}, "spec.resources.cpu", "maxCpu"),
        ("spot", {"capacity": {"type": "fargate", "spot": True}}, "spec.capacity.spot", "spotAllowed"),
    ],
)
def test_a_job_outside_the_policy_fails_naming_the_rule_before_any_aws_call(
    namespaces: E2E, name, spec, path, rule
):
    e2e = namespaces
    e2e.quiet()
    before = e2e.calls()
    e2e.apply(restricted(name, **spec))
    status = e2e.wait_phase("restricted", name, "Failed")["status"]
    assert status["reason"] == "PolicyViolation"
    assert path in status["message"] and rule in status["message"] and "restricted" in status["message"]
    assert job_calls(e2e.calls(), before) == {}


def test_jobs_over_the_quota_wait_in_pending_and_start_in_creation_order(namespaces: E2E):
    e2e = namespaces
    dataset = e2e.put_dataset("quota-set", 150)
    names = ["q1", "q2", "q3", "q4"]
    for name in names:
        obj = odmjob(name, "quota")
        obj["spec"]["input"]["s3Uri"] = dataset
        e2e.apply(obj)
    waiting = e2e.wait_phase("quota", "q4", "Pending")["status"]
    assert waiting["reason"] == "QuotaExceeded" and "maxConcurrentJobs" in waiting["message"]
    starts: dict[str, str] = {}
    deadline = time.monotonic() + 120
    while len(starts) < len(names) and time.monotonic() < deadline:
        running = 0
        jobs = e2e.list("quota")  # one snapshot: jobs read one by one could show a finished job still running
        for name in names:
            status = (jobs.get(name) or {}).get("status") or {}
            attempts = status.get("attempts") or []
            if attempts and attempts[0].get("startedAt") and name not in starts:
                starts[name] = attempts[0]["startedAt"]
            running += status.get("phase") in ("Starting", "Running")
        assert running <= 2, "never more than maxConcurrentJobs at once"
        time.sleep(0.05)
    assert sorted(starts, key=lambda n: (starts[n], n)) == names, f"start order: {starts}"
    for name in names:
        assert (
            e2e.wait_phase("quota", name, "Succeeded", "Failed", timeout=60)["status"]["phase"] == "Succeeded"
        )
