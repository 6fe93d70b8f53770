"""The README's --no-operator flow, with a setting missing: `odm-operator sandbox --no-operator` writes aws.env and
operator.env; an operator started from them without the execution role fails the Fargate job at once, naming the
setting (InvalidConfiguration, no RunTask for it), while an ec2 job, which does not need it, still runs.

Its own sandbox process (not the session stack): the operator here must be the only one watching."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3

from ..tools import tool_binary
from .conftest import odmjob

# Real seconds the job may take to fail: one pass of a fresh operator (its start included).
FAIL_WITHIN_SECONDS = 30


def read_env(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        out[key] = shlex.split(value)[0] if value else ""
    return out


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_missing_setting_fails_only_the_jobs_that_need_it_naming_it(tmp_path: Path):
    state = tmp_path / "sandbox"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "odm_operator.cli", "sandbox", "--state-dir", str(state), "--no-operator",
         "--time-scale", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    operator = None
    try:
        wait_for(lambda: (state / "ready").exists() or sandbox.poll() is not None, 120, "the sandbox")
        assert sandbox.poll() is None, "the sandbox exited"
        aws_env, settings = read_env(state / "aws.env"), read_env(state / "operator.env")
        assert {"ODM_OPERATOR_SUBNETS", "ODM_OPERATOR_EXECUTION_ROLE_ARN", "ODM_OPERATOR_TIME_SCALE"} <= set(
            settings
        )
        del settings["ODM_OPERATOR_EXECUTION_ROLE_ARN"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ODM_OPERATOR_", "AWS_"))}
        env.update({**aws_env, **settings, "KUBECONFIG": str(state / "kubeconfig"), "PYTHONUNBUFFERED": "1"})
        log = (tmp_path / "operator.log").open("wb")
        operator = subprocess.Popen(
            [sys.executable, "-m", "odm_operator.cli", "run", "--all-namespaces", "--standalone", "--liveness", ""],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        kubectl = [
            tool_binary("kubectl"),
            "--kubeconfig",
            str(state / "kubeconfig"),
            "--cache-dir",
            str(tmp_path),
        ]
        subprocess.run([*kubectl, "create", "namespace", "cfg"], check=True, capture_output=True)
        fargate = odmjob("needs-role", "cfg")
        ec2 = odmjob("no-role-needed", "cfg", capacity={"type": "ec2"})
        for obj in (fargate, ec2):
            subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(obj), text=True, check=True)
        applied = time.monotonic()

        def get(name: str) -> dict:
            out = subprocess.run(
                [*kubectl, "get", "odmjob", name, "-n", "cfg", "-o", "json"], capture_output=True
            )
            return json.loads(out.stdout) if out.returncode == 0 else {}

        failed = wait_for(
            lambda: (get("needs-role").get("status") or {}).get("phase") == "Failed" and get("needs-role"),
            FAIL_WITHIN_SECONDS,
            "the Fargate job to fail",
        )
        assert time.monotonic() - applied < FAIL_WITHIN_SECONDS
        status = failed["status"]
        assert status["reason"] == "InvalidConfiguration"
        assert "ODM_OPERATOR_EXECUTION_ROLE_ARN" in status["message"]
        assert "config.executionRoleArn" in status["message"]
        assert not status.get("attempts"), "no attempt was started"
        ecs = boto3.client(
            "ecs",
            endpoint_url=aws_env["AWS_ENDPOINT_URL"],
            region_name=aws_env["AWS_DEFAULT_REGION"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        uid = failed["metadata"]["uid"]
        assert ecs.list_tasks(cluster="odm", startedBy=f"odm/{uid}")["taskArns"] == [], "no RunTask for it"
        # The attempt is recorded in flight ({"number": 1}) before RunTask and gets its task ARN in the next write.
        started = wait_for(
            lambda: [
                a for a in (get("no-role-needed").get("status") or {}).get("attempts", []) if a.get("taskArn")
            ],
            60,
            "the job that does not need the role to run its task",
        )
        assert started[0]["number"] == 1
    finally:
        for process in (operator, sandbox):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
