"""The reconciler end to end: the operator as a separate process, the sandbox, the real kubectl and boto3."""

from __future__ import annotations

import pytest

from .conftest import E2E, odmjob

pytestmark = pytest.mark.e2e


# The capacity janitor runs on its own clock, independent of any job: when an idle operator-managed provider
# from an earlier test comes due during a measurement, its calls are not the job's.
JANITOR_OPERATIONS = {
    "ecs:DescribeCapacityProviders",
    "ecs:DescribeClusters",
    "ecs:PutClusterCapacityProviders",
    "ecs:DeleteCapacityProvider",
    "autoscaling:UpdateAutoScalingGroup",
    "autoscaling:DeleteAutoScalingGroup",
    "ec2:DeleteLaunchTemplate",
}


def event_reasons(e2e: E2E, ns: str) -> list[str]:
    return e2e.kubectl("get", "events", "-n", ns, "-o", "jsonpath={.items[*].reason}").stdout.split()


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def job_calls(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in diff(after, before).items() if k not in JANITOR_OPERATIONS}


def test_a_job_succeeds_with_every_status_field_filled(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(odmjob("ok", ns))
    e2e.kubectl("wait", "odmjob/ok", "-n", ns, "--for=jsonpath={.status.phase}=Succeeded", "--timeout=60s")
    job = e2e.get(ns, "ok")
    status = job["status"]
    assert status["reason"] == "Succeeded"
    assert "s3://odm-sandbox-output/" in status["message"]
    assert status["observedGeneration"] == job["metadata"]["generation"]
    assert status["startTime"] and status["completionTime"]
    [attempt] = status["attempts"]
    assert attempt["number"] == 1 and attempt["exitCode"] == 0
    assert attempt["taskArn"].startswith("arn:aws:ecs:") and attempt["startedAt"] and attempt["finishedAt"]
    assert attempt["stopCode"] == "EssentialContainerExited"
    aws = status["aws"]
    assert aws["cluster"] == "odm" and aws["taskArn"] == attempt["taskArn"] and aws["lastStatus"] == "STOPPED"
    assert aws["taskDefinitionArn"].split("/")[-1].startswith("odm-")
    assert aws["capacityProvider"] == "FARGATE" and aws["logGroup"] == "/odm-operator/jobs"
    assert aws["logStream"] == "odm/odm/" + attempt["taskArn"].rsplit("/", 1)[-1]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Accepted"]["status"] == "True"
    assert conditions["Complete"]["status"] == "True"
    assert conditions["Running"]["status"] == "False"
    assert all(c["observedGeneration"] == job["metadata"]["generation"] for c in status["conditions"])
    assert "Failed" not in conditions
    e2e.eventually(  # posted from a queue, right after the status write
        lambda: {"Starting", "Running", "Succeeded"} <= set(event_reasons(e2e, ns)), 10, "phase events"
    )
    table = e2e.kubectl("get", "odmj", "-n", ns).stdout
    assert "Succeeded" in table.splitlines()[1]


@pytest.mark.parametrize(
    ("name", "change", "reason", "fragment"),
    [
        ("empty", {"input": {"s3Uri": "s3://odm-sandbox-input/empty/"}}, "InputUnavailable", "empty"),
        (
            "oom",
            {"input": {"s3Uri": "s3://odm-sandbox-input/medium/"}, "retryPolicy": {"onOutOfMemory": "fail"}},
            "OutOfMemory",
            "exit 137",
        ),
        (
            "upload",
            {"output": {"s3Uri": "s3://odm-no-such-bucket/out/"}},
            "OutputUploadFailed",
            "stage-out exited",
        ),
    ],
)
def test_each_failure_reason_is_read_from_the_containers(e2e: E2E, name, change, reason, fragment):
    ns = e2e.namespace()
    obj = odmjob(name, ns)
    obj["spec"].update(change)
    e2e.apply(obj)
    status = e2e.wait_phase(ns, name, "Failed", "Succeeded")["status"]
    assert (status["phase"], status["reason"]) == ("Failed", reason)
    assert fragment in status["message"]
    assert len(status["attempts"]) == 1, "a terminal failure is not retried"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Failed"] == "True"


def test_a_spot_interruption_is_retried_and_then_succeeds(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("spot", ns, capacity={"type": "fargate", "spot": True})
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{ns}-spot", 120)
    e2e.apply(obj)
    e2e.wait_phase(ns, "spot", "Running")
    assert e2e.control("/interrupt", {"namespace": ns, "name": "spot"}).get("taskArn")
    status = e2e.wait_phase(ns, "spot", "Succeeded", "Failed", timeout=90)["status"]
    assert status["phase"] == "Succeeded"
    first, second = status["attempts"]
    assert (first["reason"], first["stopCode"]) == ("SpotInterruption", "SpotInterruption")
    assert second["reason"] == "Succeeded" and second["taskArn"] != first["taskArn"]
    assert len(e2e.tasks_of(e2e.get(ns, "spot")["metadata"]["uid"])) == 2


def test_past_the_backoff_limit_the_job_fails(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("limit", ns, capacity={"type": "fargate", "spot": True}, backoffLimit=0)
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{ns}-limit", 120)
    e2e.apply(obj)
    e2e.wait_phase(ns, "limit", "Running")
    e2e.control("/interrupt", {"namespace": ns, "name": "limit"})
    status = e2e.wait_phase(ns, "limit", "Failed", "Succeeded")["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "BackoffLimitExceeded")
    assert "backoffLimit is 0" in status["message"]


def test_the_deadline_stops_the_task_and_fails_the_job(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("slow", ns, activeDeadlineSeconds=600)
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{ns}-slow", 200)
    e2e.apply(obj)
    status = e2e.wait_phase(ns, "slow", "Failed", "Succeeded")["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "DeadlineExceeded")
    uid = e2e.get(ns, "slow")["metadata"]["uid"]
    e2e.stack.aws.wait_idle(10)
    assert [t["lastStatus"] for t in e2e.tasks_of(uid)] == ["STOPPED"]


def test_a_suspended_job_runs_nothing_until_resumed(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(odmjob("later", ns, suspend=True))
    job = e2e.wait_phase(ns, "later", "Suspended")
    assert e2e.tasks_of(job["metadata"]["uid"]) == []
    e2e.kubectl("patch", "odmjob", "later", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    assert e2e.wait_phase(ns, "later", "Succeeded", "Failed")["status"]["phase"] == "Succeeded"


def test_suspending_a_running_job_stops_its_task_and_resuming_starts_a_new_attempt(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("pause", ns)
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{ns}-pause", 150)
    e2e.apply(obj)
    e2e.wait_phase(ns, "pause", "Running")
    e2e.kubectl("patch", "odmjob", "pause", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    status = e2e.wait_phase(ns, "pause", "Suspended")["status"]
    assert status["attempts"][0]["reason"] == "Suspended"
    e2e.kubectl("patch", "odmjob", "pause", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    status = e2e.wait_phase(ns, "pause", "Succeeded", "Failed", timeout=90)["status"]
    assert status["phase"] == "Succeeded"
    assert [a["number"] for a in status["attempts"]] == [1, 2]


def test_deleting_a_running_job_leaves_no_running_task(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("gone", ns)
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{ns}-gone", 150)
    e2e.apply(obj)
    uid = e2e.wait_phase(ns, "gone", "Running")["metadata"]["uid"]
    e2e.kubectl("delete", "odmjob", "gone", "-n", ns, "--wait=true", "--timeout=30s")
    e2e.wait_gone(ns, "gone")
    [task] = e2e.tasks_of(uid)
    assert task["desiredStatus"] == "STOPPED"
    assert "ODMJob " + ns + "/gone was deleted" in task.get("stoppedReason", "")


def test_deleting_a_finished_job_makes_no_aws_call(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(odmjob("done", ns))
    e2e.wait_phase(ns, "done", "Succeeded")
    e2e.quiet()
    before = e2e.calls()
    e2e.kubectl("delete", "odmjob", "done", "-n", ns, "--wait=true", "--timeout=30s")
    e2e.wait_gone(ns, "done")
    assert job_calls(e2e.calls(), before) == {}


def test_an_invalid_job_fails_with_invalid_spec_and_makes_no_aws_call(e2e: E2E):
    ns = e2e.namespace()
    e2e.quiet()
    before = e2e.calls()
    bad = odmjob("bad", ns, resources={"cpu": 3, "memory": "8Gi", "gpu": 1})
    e2e.apply(bad)
    status = e2e.wait_phase(ns, "bad", "Failed")["status"]
    assert status["reason"] == "InvalidSpec"
    assert "spec.resources.gpu" in status["message"] and "spec.resources.cpu" in status["message"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["Accepted"] == "False"
    assert job_calls(e2e.calls(), before) == {}
    e2e.eventually(lambda: "InvalidSpec" in event_reasons(e2e, ns), 10, "an InvalidSpec event")


def test_a_schema_invalid_job_is_refused_by_kubectl_with_the_field_path(e2e: E2E):
    ns = e2e.namespace()
    result = e2e.apply(odmjob("refused", ns, backoffLimit=11), check=False)
    assert result.returncode != 0
    assert "spec.backoffLimit" in result.stderr


def test_a_warm_operator_runs_a_job_with_one_run_task_and_no_task_definition_calls(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(odmjob("first", ns))
    e2e.wait_phase(ns, "first", "Succeeded")
    e2e.quiet()
    before = e2e.calls()
    e2e.apply(odmjob("second", ns))
    e2e.wait_phase(ns, "second", "Succeeded")
    made = diff(e2e.calls(), before)
    assert made.get("ecs:RunTask") == 1
    assert "ecs:RegisterTaskDefinition" not in made and "ecs:DescribeTaskDefinition" not in made
    assert not any(k.startswith("ecs:ListTasks") for k in made)
