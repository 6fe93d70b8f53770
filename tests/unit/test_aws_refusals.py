"""What ECS, EC2 and Auto Scaling would refuse is refused at admission, naming the field (aws-fidelity review).

Each case names the AWS rule it mirrors; ``render`` and ``validate`` give the same messages and exit 1, never a
traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from odm_operator.api.validation import parse_spec
from odm_operator.aws.catalog import ec2_instance_types
from odm_operator.plan import instances
from odm_operator.plan.admission import check_job
from odm_operator.plan.desired import JobRef, plan_job
from odm_operator.settings import Settings

from .helpers import job

# A GPU image pinned by digest, as an admin would (ODM publishes its CUDA build only under a moving tag).
SETTINGS = Settings(odm_gpu_image="opendronemap/odm@sha256:" + "0" * 64)
KNOWN = ec2_instance_types()


def ec2(resources=None, **capacity):
    return job(
        spec__resources=resources or {"cpu": 4, "memory": "16Gi"}, spec__capacity={"type": "ec2", **capacity}
    )


REFUSED = [
    pytest.param(
        job(spec__resources={"cpu": "250m", "memory": "512Mi"}),
        "spec.resources.memory",
        "1Gi",
        id="F1 reservations 256+256+256 MiB exceed a 512 MiB task (ContainerDefinition memoryReservation)",
    ),
    pytest.param(
        ec2({"cpu": 1, "memory": "768Mi"}),
        "spec.resources.memory",
        "1Gi",
        id="F1 ec2 below 1 GiB: the three reservations exceed the task",
    ),
    pytest.param(
        ec2({"cpu": 4, "memory": "8Gi", "gpu": 1}, architecture="arm64", instanceTypes=["g5g.xlarge"]),
        "spec.resources.gpu",
        "no GPU-optimized AMI for arm64",
        id="F3 GPU on arm64: ECS publishes no arm64 GPU AMI",
    ),
    pytest.param(
        ec2({"cpu": 4, "memory": "8Gi", "gpu": 1}, architecture="arm64"),
        "spec.resources.gpu",
        "arm64",
        id="F3 GPU on arm64 with derived types",
    ),
    pytest.param(
        ec2(instanceTypes=["m7g.2xlarge", "m6i.2xlarge"]),
        "spec.capacity.instanceTypes[0]",
        "is arm64 but spec.capacity.architecture is x86_64",
        id="F4 arm64 type under the x86_64 AMI (CreateAutoScalingGroup ValidationError)",
    ),
    pytest.param(
        ec2(architecture="arm64", instanceTypes=["m7g.2xlarge", "c6gn.2xlarge", "m6i.2xlarge"]),
        "spec.capacity.instanceTypes[2]",
        "is x86_64",
        id="F4 x86_64 type under the arm64 AMI; c6gn (outside the table) is judged by its name",
    ),
    pytest.param(
        ec2(instanceTypes=["zz9.huge"]),
        "spec.capacity.instanceTypes[0]",
        "not an EC2 instance type",
        id="F4 a type botocore's InstanceType enum does not list",
    ),
    pytest.param(
        ec2({"cpu": 72, "memory": "250Gi"}, architecture="arm64", instanceTypes=["m7g.24xlarge"]),
        "spec.capacity.instanceTypes[0]",
        "not an EC2 instance type",
        id="F4 m7g.24xlarge does not exist (the family stops at 16xlarge)",
    ),
    pytest.param(
        ec2({"cpu": 8, "memory": "30Gi"}, instanceTypes=["r5.large", "r5.2xlarge"]),
        "spec.capacity.instanceTypes[0]",
        "r5.large is too small",
        id="F5 one listed type too small: managed scaling never scales out for it",
    ),
    pytest.param(
        ec2({"cpu": 8, "memory": "30Gi"}, instanceTypes=["r5.large", "r5.2xlarge"]),
        "spec.capacity.instanceTypes",
        "every listed type must hold",
        id="F5 the list-level message explains why every type must fit",
    ),
    pytest.param(
        ec2({"cpu": 8, "memory": "30Gi", "gpu": 2}, instanceTypes=["g4dn.2xlarge", "g4dn.12xlarge"]),
        "spec.capacity.instanceTypes[0]",
        "g4dn.2xlarge is too small",
        id="F5 two GPUs on a one-GPU type",
    ),
    pytest.param(
        ec2({"cpu": 4, "memory": "16Gi", "gpu": 1}, instanceTypes=["m6i.2xlarge"]),
        "spec.capacity.instanceTypes[0]",
        "has no NVIDIA GPU",
        id="GPU job on a type without a GPU",
    ),
    pytest.param(
        ec2({"cpu": 4, "memory": "16Gi", "gpu": 1}, instanceTypes=["g4ad.2xlarge"]),
        "spec.capacity.instanceTypes[0]",
        "has no NVIDIA GPU",
        id="g4ad has AMD GPUs, which the ECS GPU AMI does not drive",
    ),
    pytest.param(
        ec2(provider="FARGATE_SPOT"),
        "spec.capacity.provider",
        "Fargate provider",
        id="F13 FARGATE_SPOT as an ec2 provider: RunTask refuses the EC2 task definition there",
    ),
    pytest.param(
        ec2(provider="FARGATE"),
        "spec.capacity.provider",
        "capacity.type: fargate",
        id="F13 FARGATE as an ec2 provider",
    ),
    pytest.param(
        ec2({"cpu": 4, "memory": "16Gi", "disk": "65536Gi"}),
        "spec.resources.disk",
        "65506Gi",
        id="F15 30 GiB base + 65536 GiB exceeds gp3's 65536 GiB VolumeSize",
    ),
    pytest.param(
        job(spec__resources={"cpu": 4, "memory": "16Gi", "disk": "201Gi"}),
        "spec.resources.disk",
        "200Gi",
        id="Fargate ephemeral storage above 200 GiB",
    ),
]


@pytest.mark.parametrize(("obj", "path", "fragment"), REFUSED)
def test_what_aws_refuses_is_refused_at_admission(obj, path, fragment):
    errors = check_job(obj, SETTINGS, known_types=KNOWN)
    matching = [e for e in errors if e.path == path]
    assert matching, f"expected an error at {path}, got {[str(e) for e in errors]}"
    assert any(fragment in e.message for e in matching), [e.message for e in matching]


ACCEPTED = [
    pytest.param(
        job(spec__resources={"cpu": "250m", "memory": "1Gi"}), id="smallest size that holds 3 containers"
    ),
    pytest.param(
        ec2(architecture="arm64", instanceTypes=["m7g.2xlarge", "m8g.2xlarge"]), id="arm64 types on arm64"
    ),
    pytest.param(
        ec2({"cpu": 4, "memory": "16Gi"}, instanceTypes=["m6i.2xlarge", "x2iedn.xlarge"]),
        id="a real type outside the size table is accepted (not judged on size)",
    ),
    pytest.param(ec2({"cpu": 4, "memory": "16Gi", "gpu": 1}), id="derived GPU types on x86_64"),
    pytest.param(
        ec2({"cpu": 4, "memory": "16Gi", "disk": "65506Gi"}), id="disk at the gp3 limit less the base"
    ),
    pytest.param(ec2(provider="my-ec2-provider"), id="an existing EC2 provider"),
]


@pytest.mark.parametrize("obj", ACCEPTED)
def test_what_aws_accepts_is_accepted(obj):
    assert check_job(obj, SETTINGS, known_types=KNOWN) == []


@pytest.mark.parametrize("obj", [p.values[0] for p in ACCEPTED])
def test_accepted_jobs_render_within_aws_limits(obj):
    """What admission accepts renders reservations within task memory and a gp3-sized root volume."""
    desired = plan_job(parse_spec(obj["spec"]), SETTINGS, JobRef("ns", "name", "uid"))
    td = desired.task_definition
    reserved = sum(c.get("memoryReservation", 0) for c in td["containerDefinitions"])
    assert reserved <= int(td["memory"]), "ECS: reservations cannot be greater than the task memory"
    for device in (
        desired.capacity.requests.get("launchTemplate", {})
        .get("LaunchTemplateData", {})
        .get("BlockDeviceMappings", [])
    ):
        assert 1 <= device["Ebs"]["VolumeSize"] <= 65536, "gp3: 1 - 65,536 GiB"


def test_every_type_of_the_size_table_exists_in_botocore():
    """The operator's size table names only real types (it once listed m7g.24xlarge and r7g.24xlarge)."""
    assert [t.name for t in instances.TABLE if t.name not in KNOWN] == []


def test_the_botocore_enum_is_read_whole():
    assert len(KNOWN) > 1000 and {"m6i.large", "g5.xlarge", "m7g.16xlarge"} <= KNOWN


@pytest.mark.parametrize("command", ["render", "validate"])
def test_render_and_validate_exit_1_with_the_field_for_arm64_gpu(tmp_path, command):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(REFUSED[2].values[0]))
    result = subprocess.run(
        [sys.executable, "-m", "odm_operator.cli", command, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "spec.resources.gpu" in out and "Traceback" not in out
    if command == "render":
        with pytest.raises(json.JSONDecodeError):
            json.loads(result.stdout or "x")
