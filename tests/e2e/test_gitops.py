"""What GitOps tools and people see of real jobs in the sandbox: the kstatus conditions, the Argo CD health check
(health.lua in a real Lua runtime) on every status a job went through, and `odm-operator logs` on finished,
unstarted and running jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from ..argocd_health import health
from ..unit.test_argocd_health import PHASE_HEALTH
from ..unit.test_conditions import kstatus
from .conftest import E2E, odmjob

pytestmark = pytest.mark.e2e

# kstatus's verdict by phase (Flux waits on InProgress, fails on Failed, goes on at Current).
PHASE_KSTATUS = {
    "Pending": "InProgress",
    "Starting": "InProgress",
    "Running": "InProgress",
    "Succeeded": "Current",
    "Failed": "Failed",
    "Cancelled": "Failed",
    "Suspended": "Current",
}


@pytest.fixture(scope="module")
def jobs(stack, tmp_path_factory) -> tuple[E2E, str, list[dict[str, Any]]]:
    """Three jobs run to their ends (one succeeds, one fails on an empty input, one stays suspended), and every
    distinct version of them seen on the way, read as a GitOps tool would (kubectl get -o json)."""
    e2e = E2E(stack, tmp_path_factory.mktemp("gitops"))
    ns = e2e.namespace()
    e2e.apply(odmjob("ok", ns))
    e2e.apply(odmjob("empty", ns, input={"s3Uri": "s3://odm-sandbox-input/empty/"}))
    e2e.apply(odmjob("held", ns, suspend=True))
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    ends = {"ok": "Succeeded", "empty": "Failed", "held": "Suspended"}

    def all_ended() -> bool:
        for name, item in e2e.list(ns).items():
            seen.setdefault((name, item["metadata"].get("resourceVersion")), item)
        latest = {name: item for (name, _), item in seen.items()}
        return all((latest.get(n, {}).get("status") or {}).get("phase") == p for n, p in ends.items())

    e2e.eventually(all_ended, 60, "the three jobs did not reach their ends")
    return e2e, ns, list(seen.values())


def test_every_status_a_job_showed_gives_the_right_kstatus_and_argo_cd_health(jobs):
    _, _, seen = jobs
    phases = set()
    for obj in seen:
        status = obj.get("status") or {}
        phase = status.get("phase")
        phases.add(phase)
        verdict, got = kstatus(obj), health(obj)
        where = f"{obj['metadata']['name']} in {phase}: {json.dumps(status)}"
        assert got["status"] == PHASE_HEALTH[phase], where
        if phase is None:
            continue
        assert verdict == PHASE_KSTATUS[phase], where
        assert status["message"] in got["message"], where
        conditions = {c["type"]: c for c in status["conditions"]}
        assert conditions["Ready"]["status"] == ("True" if phase == "Succeeded" else "False"), where
        assert conditions["Reconciling"]["status"] == ("True" if verdict == "InProgress" else "False"), where
        assert conditions["Stalled"]["status"] == ("True" if verdict == "Failed" else "False"), where
        assert {c["observedGeneration"] for c in status["conditions"]} == {obj["metadata"]["generation"]}
        assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert {"Succeeded", "Failed", "Suspended"} <= phases and phases & {"Starting", "Running"}, phases
    failed = next(o for o in seen if (o.get("status") or {}).get("phase") == "Failed")
    stalled = next(c for c in failed["status"]["conditions"] if c["type"] == "Stalled")
    assert stalled["reason"] == "InputUnavailable" and "empty" in stalled["message"]


def test_resuming_a_suspended_job_is_observed_and_it_runs_to_success(jobs):
    e2e, ns, _ = jobs
    e2e.kubectl("patch", "odmjob", "held", "-n", ns, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    done = e2e.wait_phase(ns, "held", "Succeeded")
    assert done["metadata"]["generation"] == 2 and done["status"]["observedGeneration"] == 2
    conditions = {c["type"]: c for c in done["status"]["conditions"]}
    assert (conditions["Suspended"]["status"], conditions["Suspended"]["reason"]) == ("False", "Resumed")
    assert health(done)["status"] == "Healthy" and kstatus(done) == "Current"


def test_kubectl_describe_alone_tells_what_happened_to_a_job(jobs):
    e2e, ns, _ = jobs
    ok = e2e.get(ns, "ok")
    task = ok["status"]["attempts"][0]["taskArn"]

    def described(name: str, *wanted: str) -> str | None:
        text = e2e.kubectl("describe", "odmj", name, "-n", ns).stdout
        return text if all(w in text for w in wanted) else None

    text = e2e.eventually(
        lambda: described("ok", "TaskStarted", "Running", "Succeeded"), 10, "describe shows the job's events"
    )
    events = text[text.index("Events:") :]
    assert f"attempt 1: started ECS task {task} on FARGATE" in events
    assert "products are in s3://odm-sandbox-output/" in events
    assert "Reconciling" in text and "Stalled" in text and "Ready" in text  # the conditions, under Status
    failed = e2e.eventually(lambda: described("empty", "InputUnavailable"), 10, "describe shows the failure")
    [line] = [line for line in failed[failed.index("Events:") :].splitlines() if "InputUnavailable" in line]
    assert line.split()[0] == "Warning" and "empty" in line
    wide = e2e.kubectl("get", "odmj", "-n", ns, "-o", "wide").stdout.splitlines()
    assert "MESSAGE" in wide[0] and any("no images" in row or "empty" in row for row in wide[1:])


def logs(e2e: E2E, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "odm_operator.cli", "logs", *args],
        env=_env(e2e),
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_whole_odm_log(text: str) -> None:
    """ODM's log from its first line to its last stage, in order and once."""
    lines = text.splitlines()
    assert lines and "Initializing ODM" in lines[0], text
    first = [i for i, line in enumerate(lines) if "Running dataset stage" in line]
    last = [i for i, line in enumerate(lines) if "Finished odm_postprocess stage" in line]
    assert len(first) == 1 and len(last) == 1 and first[0] < last[0], text


def _env(e2e: E2E) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, **e2e.stack.aws.env(), "KUBECONFIG": str(e2e.stack.kubeconfig)}


def test_logs_prints_a_finished_jobs_log_and_says_in_one_line_what_it_cannot(jobs):
    e2e, ns, _ = jobs
    ok = logs(e2e, "ok", "-n", ns)
    assert ok.returncode == 0, ok.stderr
    assert_whole_odm_log(ok.stdout)
    assert "Downloaded 30 images" in logs(e2e, "ok", "-n", ns, "-c", "stage-in").stdout

    empty = logs(e2e, "empty", "-n", ns)  # stage-in failed, so the odm container never ran
    assert empty.returncode == 1 and empty.stdout == ""
    assert "does not exist (yet)" in empty.stderr and "InputUnavailable" in empty.stderr
    assert "-c stage-in" in empty.stderr and len(empty.stderr.splitlines()) == 1
    assert "input prefix" in logs(e2e, "empty", "-n", ns, "-c", "stage-in").stdout

    missing = logs(e2e, "nothing", "-n", ns)
    assert (missing.returncode, missing.stderr) == (1, f"odm-operator logs: ODMJob {ns}/nothing not found\n")

    e2e.apply(odmjob("paused", ns, suspend=True))
    e2e.wait_phase(ns, "paused", "Suspended")
    paused = logs(e2e, "paused", "-n", ns)
    assert paused.returncode == 1 and "has not started a task yet (phase Suspended" in paused.stderr

    before = e2e.control("/faults")["rules"]
    denied = "User: arn:aws:iam::123456789012:user/viewer is not authorized to perform: logs:GetLogEvents"
    rule = {
        "operation": "logs:GetLogEvents",
        "code": "AccessDeniedException",
        "status": 400,
        "message": denied,
    }
    e2e.control("/faults", {"rules": [*before, rule]})
    try:
        refused = logs(e2e, "ok", "-n", ns)
    finally:
        e2e.control("/faults", {"rules": before})
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1
    assert "not allowed to read log stream" in refused.stderr and "AccessDeniedException" in refused.stderr


def test_logs_follow_waits_for_a_job_follows_it_while_it_runs_and_exits_when_it_ends(e2e: E2E):
    ns = e2e.namespace()
    name = "long"
    # 150 images: a run of a few seconds, long enough to be seen Running, short enough for the suite.
    e2e.put_dataset(f"{ns}-follow", 150)
    e2e.apply(odmjob(name, ns, dataset=f"{ns}-follow"))
    follow = subprocess.Popen(  # at once: before the job has a task, so it waits for the first one
        [sys.executable, "-m", "odm_operator.cli", "logs", name, "-n", ns, "-f", "--interval", "0.2"],
        env=_env(e2e),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        e2e.wait_phase(ns, name, "Running")
        assert follow.poll() is None, "logs -f exited while the job was running"
        out, err = follow.communicate(timeout=90)
    finally:
        if follow.poll() is None:
            follow.kill()
    assert follow.returncode == 0, err
    assert e2e.get(ns, name)["status"]["phase"] == "Succeeded"
    assert_whole_odm_log(out)
    assert "Loading 150 images" in out
    assert f"ODMJob {name} ended: Succeeded" in err
