"""Several teams on one operator: two namespaces with the README's multi-tenant policy (team-a, team-b) and one
without any policy. Every crossing attempt is refused with PolicyViolation before any AWS call, or (status
tampering) reported on the attacker's job while the victim's task runs on untouched; the control jobs succeed."""

from __future__ import annotations

import json

import pytest

from .conftest import E2E, odmjob
from .test_lifecycle import job_calls

pytestmark = pytest.mark.e2e
ROLE_A = "arn:aws:iam::123456789012:role/odm-team-a"
ROLE_B = "arn:aws:iam::123456789012:role/odm-team-b"


def team_job(e2e: E2E, team: str, name: str, images: int = 30, **spec) -> dict:
    obj = odmjob(name, team, **spec)
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{team}/{name}", images)
    obj["spec"]["output"]["s3Uri"] = f"s3://odm-sandbox-output/{team}/{name}/"
    return obj


@pytest.fixture(scope="module")
def tenants(stack):
    e2e = E2E(stack, stack.state_dir)
    for ns in ("team-a", "team-b", "no-policy"):
        e2e.kubectl("create", "namespace", ns)
    return e2e


# (namespace, name, spec changes, the field named, the setting named). The datasets exist (put first), so a
# refusal is the policy's and not a missing input.
ATTACKS = [
    ("team-a", "image", {"odm": {"image": "evil.example/odm:latest"}}, "spec.odm.image", "allowedImages"),
    ("no-policy", "image", {"odm": {"image": "evil.example/odm:latest"}}, "spec.odm.image", "allowedImages"),
    ("team-a", "role", {"taskRoleArn": ROLE_B}, "spec.taskRoleArn", "defaultTaskRoleArn"),
    ("no-policy", "role", {"taskRoleArn": ROLE_A}, "spec.taskRoleArn", "taskRoleArn"),
    (
        "team-a",
        "provider",
        {"capacity": {"type": "ec2", "provider": "team-b-gpu"}},
        "spec.capacity.provider",
        "allowedProviders",
    ),
    (
        "team-a",
        "cluster",
        {"capacity": {"type": "fargate", "cluster": "team-b"}},
        "spec.capacity.cluster",
        "allowedClusters",
    ),
    (
        "team-a",
        "input",
        {"input": {"s3Uri": "s3://odm-sandbox-input/team-b/victim/"}},
        "spec.input.s3Uri",
        "allowedInputPrefixes",
    ),
    (
        "team-a",
        "output",
        {"output": {"s3Uri": "s3://odm-sandbox-output/team-b/victim/"}},
        "spec.output.s3Uri",
        "allowedOutputPrefixes",
    ),
    ("team-a", "big", {"resources": {"cpu": 16, "memory": "32Gi"}}, "spec.resources.cpu", "maxCpu"),
    (
        "no-policy",
        "big",
        {
            "resources": {"cpu": 32, "memory": "64Gi"},
            "capacity": {"type": "ec2", "instanceTypes": ["m6i.16xlarge"]},
        },
        "spec.resources.cpu",
        "maxJobCpu",
    ),
]


def test_crossing_attempts_are_refused_before_any_aws_call_and_the_control_jobs_succeed(tenants: E2E):
    e2e = tenants
    e2e.put_dataset("team-b/victim", 30)
    jobs = []
    for ns, name, spec, path, setting in ATTACKS:
        obj = team_job(e2e, ns, f"x-{name}")
        obj["spec"].update(spec)
        jobs.append((obj, path, setting))
    e2e.quiet()
    # The operator's own start-up calls (cluster and log group, once) are not the refused jobs'.
    e2e.eventually(lambda: "logs:PutRetentionPolicy" in e2e.calls(), 30, "the operator's warm-up did not run")
    before = e2e.calls()
    for obj, _, _ in jobs:
        e2e.apply(obj)
    for obj, path, setting in jobs:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        status = e2e.wait_phase(ns, name, "Failed", "Succeeded")["status"]
        assert status["reason"] == "PolicyViolation", (ns, name, status)
        assert path in status["message"] and setting in status["message"], (ns, name, status["message"])
    assert job_calls(e2e.calls(), before) == {}, "refused jobs cost no AWS call"

    control_a = team_job(e2e, "team-a", "control")
    control_open = team_job(e2e, "no-policy", "control")  # zero config: input, output, resources only
    for obj in (control_a, control_open):
        e2e.apply(obj)
    for obj in (control_a, control_open):
        ns = obj["metadata"]["namespace"]
        done = e2e.wait_phase(ns, "control", "Succeeded", "Failed")
        assert done["status"]["phase"] == "Succeeded", done["status"]
        (task,) = e2e.tasks_of(done["metadata"]["uid"])
        role = task["overrides"].get("taskRoleArn")
        assert role == (ROLE_A if ns == "team-a" else None), (
            "team-a runs with its default role, no-policy with none"
        )


def _tamper(e2e: E2E, ns: str, name: str, victim: dict) -> None:
    """What a tenant allowed to patch odmjobs/status could write: its own job now names the victim's task."""
    arn = victim["status"]["aws"]["taskArn"]
    status = {
        "phase": "Running",
        "attempts": [{"number": 1, "taskArn": arn, "startedAt": victim["status"]["startTime"]}],
        "aws": {"cluster": "odm", "taskArn": arn},
        "startTime": victim["status"]["startTime"],
    }
    patch = json.dumps({"status": status})
    e2e.kubectl("patch", "odmjob", name, "-n", ns, "--subresource=status", "--type=merge", "-p", patch)


def test_a_status_naming_another_teams_task_never_touches_it(tenants: E2E):
    e2e = tenants
    e2e.apply(team_job(e2e, "team-b", "victim", images=150))
    victim = e2e.wait_phase("team-b", "victim", "Running", timeout=90)
    victim_arn = victim["status"]["aws"]["taskArn"]

    # A suspended job (no task of its own) whose status names the victim's task: suspension would stop it.
    e2e.apply(team_job(e2e, "team-a", "suspended", suspend=True))
    e2e.wait_phase("team-a", "suspended", "Suspended")
    _tamper(e2e, "team-a", "suspended", victim)
    # A running job of its own whose status is turned to the victim's task, then deleted: the finalizer stops
    # the attacker's own task, found by its startedBy, and not the one named in status.
    e2e.apply(team_job(e2e, "team-a", "running", images=150))
    own = e2e.wait_phase("team-a", "running", "Running", timeout=90)
    own_arn = own["status"]["aws"]["taskArn"]
    _tamper(e2e, "team-a", "running", victim)

    for name in ("suspended", "running"):
        status = e2e.wait_phase("team-a", name, "Failed")["status"]
        assert status["reason"] == "ForeignTask" and victim_arn in status["message"], status
        assert "odm/" + victim["metadata"]["uid"] in status["message"], "says whose task it is"
    e2e.kubectl("delete", "odmjob", "running", "-n", "team-a", "--wait=false")
    e2e.wait_gone("team-a", "running")

    (own_task,) = e2e.tasks_of(own["metadata"]["uid"])
    assert own_task["taskArn"] == own_arn
    e2e.eventually(
        lambda: e2e.tasks_of(own["metadata"]["uid"])[0]["desiredStatus"] == "STOPPED",
        30,
        "the attacker's own task was not stopped",
    )
    done = e2e.wait_phase("team-b", "victim", "Succeeded", "Failed", timeout=120)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    (task,) = e2e.tasks_of(victim["metadata"]["uid"])
    assert task["stopCode"] == "EssentialContainerExited", "the victim's task ran to its end, never stopped"
    assert len(done["status"]["attempts"]) == 1
