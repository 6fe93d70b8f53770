"""`odm-operator render` prints exactly what would go to AWS: valid botocore requests, stable shared families."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

from odm_operator.api.validation import parse_spec
from odm_operator.plan.desired import JobRef, plan_job
from odm_operator.settings import Settings

from .helpers import EXAMPLES, ROOT, job

GOLDEN = Path(__file__).parent / "golden"
SUBNETS = [
    "--set",
    'subnets=["subnet-0abc"]',
    "--set",
    'security_groups=["sg-0abc"]',
    "--set",
    "odm_gpu_image=opendronemap/odm@sha256:" + "0" * 64,
]  # an admin's digest pin (stand-in)
_session = botocore.session.get_session()


def render(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "odm_operator.cli", "render", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def botocore_errors(service: str, operation: str, params: dict) -> str:
    shape = _session.get_service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_render_matches_the_golden_expectation(path):
    result = render(str(path.relative_to(ROOT)), *SUBNETS)
    assert result.returncode == 0, result.stderr
    golden = GOLDEN / (path.stem + ".json")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(result.stdout)
    assert json.loads(result.stdout) == json.loads(golden.read_text()), (
        f"run UPDATE_GOLDEN=1 to accept: {golden}"
    )


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_rendered_requests_pass_botocores_own_validation(path):
    out = json.loads(render(str(path.relative_to(ROOT)), *SUBNETS).stdout)
    assert botocore_errors("ecs", "RegisterTaskDefinition", out["taskDefinition"]) == ""
    assert botocore_errors("ecs", "RunTask", out["runTask"]) == ""
    if out["capacity"]["type"] == "managed":
        assert botocore_errors("ec2", "CreateLaunchTemplate", out["capacity"]["launchTemplate"]) == ""
        assert (
            botocore_errors("autoscaling", "CreateAutoScalingGroup", out["capacity"]["autoScalingGroup"])
            == ""
        )
        assert botocore_errors("ecs", "CreateCapacityProvider", out["capacity"]["capacityProvider"]) == ""


def _plan(obj, settings=None, uid="uid-1"):
    meta = obj["metadata"]
    return plan_job(
        parse_spec(obj["spec"]), settings or Settings(), JobRef(meta["namespace"], meta["name"], uid)
    )


def test_jobs_that_differ_only_in_uris_and_options_share_a_family():
    a = _plan(job())
    b = _plan(
        job(
            metadata={"name": "other", "namespace": "x"},
            spec__input={"s3Uri": "s3://elsewhere/raw/"},
            spec__output={"s3Uri": "s3://elsewhere/out/"},
            spec__odm={"options": {"dsm": True, "orthophoto-resolution": 2}},
        ),
        uid="uid-2",
    )
    assert a.family == b.family
    assert a.task_definition == b.task_definition
    assert a.run_task["overrides"] != b.run_task["overrides"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"spec__resources": {"cpu": 8, "memory": "16Gi"}}, "cpu"),
        ({"spec__resources": {"cpu": 4, "memory": "30Gi"}}, "memory"),
        ({"spec__odm": {"image": "opendronemap/odm:3.5.6"}}, "image"),
        ({"spec__capacity": {"type": "ec2"}}, "capacity type"),
        ({"spec__resources": {"cpu": 4, "memory": "16Gi", "disk": "150Gi"}}, "fargate disk"),
    ],
)
def test_a_different_task_body_gets_a_different_family(change, reason):
    assert _plan(job()).family != _plan(job(**change)).family, reason


def test_the_family_is_stable_across_processes():
    """Same input, same family: no dict ordering, hash seed or timestamp leaks into it."""
    families = {
        json.loads(render("examples/fargate.yaml", env={"PYTHONHASHSEED": seed}).stdout)["taskDefinition"][
            "family"
        ]
        for seed in ("1", "2", "3")
    }
    assert len(families) == 1


def test_run_task_carries_idempotency_token_started_by_and_tags():
    rt = _plan(job(), uid="7a1c").run_task
    assert rt["clientToken"] == "7a1c-1"
    assert rt["startedBy"] == "odm/7a1c"
    tags = {t["key"]: t["value"] for t in rt["tags"]}
    assert tags["odm-operator.io/job-name"] == "job-1"
    assert tags["odm-operator.io/job-namespace"] == "mapping"
    assert tags["odm-operator.io/job-uid"] == "7a1c"
    assert tags["odm-operator.io/attempt"] == "1"


def test_a_gpu_job_requests_the_gpu_and_the_gpu_ami():
    out = json.loads(render("examples/gpu-spot.yaml", *SUBNETS).stdout)
    odm = next(c for c in out["taskDefinition"]["containerDefinitions"] if c["name"] == "odm")
    assert odm["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    assert "/gpu/" in out["capacity"]["launchTemplate"]["LaunchTemplateData"]["ImageId"]
    overrides = out["capacity"]["autoScalingGroup"]["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]
    assert all(o["InstanceType"].startswith(("g4dn", "g5", "p3")) for o in overrides)


def test_render_accepts_setting_overrides():
    out = json.loads(
        render("examples/fargate.yaml", "--set", "cluster=mapping", "--set", "region=eu-west-1").stdout
    )
    assert out["runTask"]["cluster"] == "mapping"
    odm = out["taskDefinition"]["containerDefinitions"][1]
    assert odm["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"


def test_render_refuses_an_unknown_setting_with_the_allowed_names():
    result = render("examples/fargate.yaml", "--set", "clustr=x")
    assert result.returncode == 2
    assert "unknown setting 'clustr'" in result.stderr and "cluster" in result.stderr


def test_render_of_an_invalid_job_prints_the_errors_and_exits_1(tmp_path):
    bad = copy.deepcopy(job(spec__backoffLimit=11))
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(bad))
    result = render(str(path))
    assert result.returncode == 1
    assert "spec.backoffLimit" in result.stderr
    assert result.stdout == ""
