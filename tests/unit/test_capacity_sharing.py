"""Operator-managed capacity is shared by what needs a distinct Auto Scaling group, not by every job size: ECS
allows 20 capacity providers per cluster (FARGATE and FARGATE_SPOT included)."""

import pytest

from odm_operator.api.validation import parse_spec
from odm_operator.plan.desired import JobRef, plan_job
from odm_operator.plan.managed_capacity import disk_band
from odm_operator.settings import Settings

from .helpers import job

SETTINGS = Settings(subnets=["subnet-0123456789abcdef0"], security_groups=["sg-0123456789abcdef0"])


def planned(resources=None, **capacity):
    obj = job(
        spec__resources=resources or {"cpu": 4, "memory": "16Gi"}, spec__capacity={"type": "ec2", **capacity}
    )
    return plan_job(parse_spec(obj["spec"]), SETTINGS, JobRef("ns", "j", "uid"))


def provider(resources=None, **capacity):
    return planned(resources, **capacity).capacity.provider


@pytest.mark.parametrize(
    ("a", "b", "shared"),
    [
        pytest.param({}, {"maxInstances": 3}, True, id="maxInstances does not split a provider"),
        pytest.param(
            {"resources": {"cpu": 4, "memory": "16Gi", "disk": "40Gi"}},
            {"resources": {"cpu": 4, "memory": "16Gi", "disk": "64Gi"}},
            True,
            id="disks in one power-of-two band share",
        ),
        pytest.param({}, {"spot": True}, False, id="spot needs its own group"),
        pytest.param({}, {"architecture": "arm64"}, False, id="architecture needs its own AMI"),
        pytest.param(
            {}, {"resources": {"cpu": 4, "memory": "16Gi", "gpu": 1}}, False, id="GPU needs the GPU AMI"
        ),
        pytest.param({}, {"instanceTypes": ["m6i.4xlarge"]}, False, id="other instance types, other group"),
        pytest.param(
            {"resources": {"cpu": 4, "memory": "16Gi", "disk": "64Gi"}},
            {"resources": {"cpu": 4, "memory": "16Gi", "disk": "65Gi"}},
            False,
            id="a disk beyond the band needs a larger root volume",
        ),
    ],
)
def test_providers_are_shared_by_what_needs_a_distinct_group(a, b, shared):
    first = provider(a.pop("resources", None), **a)
    second = provider(b.pop("resources", None), **b)
    assert (first == second) is shared


def test_the_root_volume_holds_the_largest_disk_of_its_band_and_one_task_per_instance():
    desired = planned({"cpu": 4, "memory": "16Gi", "disk": "40Gi"})
    volume = desired.capacity.requests["launchTemplate"]["LaunchTemplateData"]["BlockDeviceMappings"][0][
        "Ebs"
    ]
    assert volume["VolumeSize"] == 30 + 64
    assert desired.run_task["placementConstraints"] == [
        {"type": "memberOf", "expression": "runningTasksCount == 0"}
    ], "binpacking two tasks onto one root volume sized for one would run out of disk"


@pytest.mark.parametrize(
    ("disk", "band"),
    [
        pytest.param(1, 32, id="small disks share the smallest band"),
        pytest.param(33, 64, id="rounded up"),
        pytest.param(65506, 65506, id="capped at gp3's limit less the 30 GiB base"),
    ],
)
def test_disk_bands(disk, band):
    assert disk_band(disk) == band
