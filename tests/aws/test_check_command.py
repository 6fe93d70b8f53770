"""`odm-operator check` against the AWS emulator: real boto3 over HTTP, one line per problem, exit 1 on problems."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import botocore.session
from botocore import xform_name

REPO = Path(__file__).resolve().parents[2]
PREFLIGHT = REPO / "operator" / "odm_operator" / "aws" / "preflight.py"
CHECK_POLICY = REPO / "manifests" / "aws" / "check-policy.json"
TRUST = json.loads((REPO / "manifests" / "aws" / "ecs-tasks-trust.json").read_text())


def run_check(aws, settings: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ODM_OPERATOR_", "AWS_"))}
    env.update(aws.env())
    env.update({f"ODM_OPERATOR_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "odm_operator.cli", "check", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def account(client):
    ec2 = client("ec2")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s.get("DefaultForAz")][:2]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    iam = client("iam")
    role = iam.create_role(RoleName="exec", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    other = iam.create_role(
        RoleName="not-for-ecs",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    return {
        "subnets": json.dumps(subnets),
        "security_groups": json.dumps([group]),
        "execution_role_arn": role,
    }, other


def test_good_settings_pass(aws, client):
    settings, _ = account(client)
    result = run_check(aws, settings)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_each_missing_thing_is_one_line(aws, client):
    settings, not_for_ecs = account(client)
    settings.update(
        subnets=json.dumps(["subnet-0123456789abcdef0"]),
        task_role_arn=not_for_ecs,
        execution_role_arn="arn:aws:iam::123456789012:role/missing",
        cluster="nowhere",
        create_cluster="false",
        capacity_provider="absent-provider",
    )
    result = run_check(aws, settings)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    expected = [
        "subnets: subnet-0123456789abcdef0 does not exist",
        "task_role_arn: arn:aws:iam::123456789012:role/not-for-ecs does not trust ecs-tasks.amazonaws.com",
        "execution_role_arn: arn:aws:iam::123456789012:role/missing does not exist",
        "cluster: nowhere does not exist and create_cluster is false",
        "capacity_provider: absent-provider does not exist",
    ]
    for fragment in expected:
        assert sum(fragment in line for line in lines) == 1, (fragment, lines)
    assert "Traceback" not in result.stderr


def test_the_pure_rules_come_first_and_name_env_and_helm(aws):
    result = run_check(aws, {"tags": json.dumps({"aws:team": "x"})}, "--offline")
    assert result.returncode == 1
    assert "ODM_OPERATOR_TAGS" in result.stdout and "config.tags" in result.stdout
    assert "ODM_OPERATOR_SUBNETS" in result.stdout, "no subnets is reported too"


def test_the_check_policy_grants_exactly_the_calls_check_makes():
    """manifests/aws/check-policy.json is what a person running `check` needs: every call in preflight.py."""
    services = {"ec2": "ec2", "iam": "iam", "ecs": "ecs"}
    session = botocore.session.get_session()
    calls = set()
    for node in ast.walk(ast.parse(PREFLIGHT.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            if isinstance(receiver, ast.Name) and receiver.id in services:
                model = session.get_service_model(services[receiver.id])
                names = {xform_name(op): op for op in model.operation_names}
                calls.add(f"{receiver.id}:{names[node.func.attr]}")
    granted = set(json.loads(CHECK_POLICY.read_text())["Statement"][0]["Action"])
    assert calls == granted
