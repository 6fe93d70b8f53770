"""Operator-managed EC2 capacity: one launch template, Auto Scaling group and capacity provider per capacity spec.

Everything is named ``odm-<hash of the capacity spec>``, so jobs with the same needs share one provider and the
operator can tell its own resources from everything else in the account (it also tags them). The group starts at
zero and ECS managed scaling grows it when tasks wait in PROVISIONING.
"""

from __future__ import annotations

import base64
from typing import Any

from ..api.types import ODMJobSpec
from ..api.validation import EC2_BASE_DISK_GIB, MAX_DISK_GIB
from ..settings import Settings
from .instances import fitting_types
from .tags import content_hash, resource_tags
from .types import DesiredCapacity, TaskSize

AMI_PARAMETERS = {
    ("x86_64", False): "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id",
    ("arm64", False): "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id",
    ("x86_64", True): "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id",
}
# ECS managed scaling: keep the group exactly as large as the tasks need (100 = no spare instances).
TARGET_CAPACITY = 100
# Instances need a few minutes to boot and join; ECS ignores their metrics for this long.
INSTANCE_WARMUP_SECONDS = 300
# How many instances managed scaling may add at once: a burst of jobs should not wait on one-at-a-time steps.
MAX_SCALING_STEP = 10
# One ODM task per managed instance (RunTask placementConstraints, ECS cluster query language): ODM uses every CPU
# of its host (--max-concurrency defaults to the CPU count), and each task's disk lives on the instance's root
# volume, so two tasks binpacked onto one instance would share a volume sized for one (ENOSPC).
ONE_TASK_PER_INSTANCE = [{"type": "memberOf", "expression": "runningTasksCount == 0"}]
# Jobs share a provider when their disks round up to the same power of two (at least this many GiB): the root
# volume has room for the largest disk of its band, and the number of providers stays small (20 per cluster).
MIN_DISK_BAND_GIB = 32


def ami_parameter(arch: str, gpu: bool) -> str:
    """The SSM parameter of the ECS-optimized AMI; admission refuses GPU on arm64 (there is no such AMI)."""
    try:
        return AMI_PARAMETERS[(arch, gpu)]
    except KeyError:
        raise ValueError(f"ECS publishes no {'GPU ' if gpu else ''}AMI for {arch}") from None


def disk_band(disk_gib: int) -> int:
    """The job's disk rounded up to a power of two, within what a gp3 root volume can add (api/validation.py)."""
    band = MIN_DISK_BAND_GIB
    while band < disk_gib:
        band *= 2
    return min(band, MAX_DISK_GIB)


def user_data(cluster: str, gpu: bool) -> str:
    lines = [
        f"ECS_CLUSTER={cluster}",
        # Drain on a Spot notice: no new task is placed on a doomed instance. Draining does not stop standalone
        # tasks; the task dies with its host ("Host EC2 (instance i-...) terminated.", no exit codes), which
        # plan/outcome.py retries.
        "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true",
        # How long the containers get between SIGTERM and SIGKILL when the task is stopped. Stage-out does not run
        # after a stop (ECS starts no container once the task's desired status is STOPPED).
        "ECS_CONTAINER_STOP_TIMEOUT=120s",
    ]
    if gpu:
        lines.append("ECS_ENABLE_GPU_SUPPORT=true")
    body = "\n".join(lines)
    return f"#!/bin/bash\ncat <<'EOF' >> /etc/ecs/ecs.config\n{body}\nEOF\n"


def managed_capacity(spec: ODMJobSpec, settings: Settings, size: TaskSize, cluster: str) -> DesiredCapacity:
    types = fitting_types(spec, size, settings.allowed_instance_families)
    gpu = size.gpus > 0
    # What needs a distinct Auto Scaling group or launch template, and nothing else: a job's maxInstances raises
    # the shared group's MaxSize (aws/capacity_providers.py) instead of making a provider of its own (ECS allows 20 per
    # cluster, FARGATE and FARGATE_SPOT included).
    band = disk_band(size.disk_gib)
    identity = {
        "cluster": cluster,
        "instanceTypes": types,
        "spot": spec.capacity.spot,
        "gpu": gpu,
        "diskBandGiB": band,
        "architecture": spec.capacity.architecture,
        "subnets": sorted(settings.subnets),
        "securityGroups": sorted(settings.security_groups),
        "instanceProfile": settings.instance_profile_arn,
    }
    name = "odm-" + content_hash(identity)
    ec2_tags = [{"Key": t["key"], "Value": t["value"]} for t in resource_tags(settings, {"Name": name})]
    template_data: dict[str, Any] = {
        "ImageId": "resolve:ssm:" + ami_parameter(spec.capacity.architecture, gpu),
        "UserData": base64.b64encode(user_data(cluster, gpu).encode()).decode(),
        "BlockDeviceMappings": [
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {
                    "VolumeSize": EC2_BASE_DISK_GIB + band,
                    "VolumeType": "gp3",
                    "DeleteOnTermination": True,
                    "Encrypted": True,
                },
            }
        ],
        # IMDSv2 only, and a hop limit of 1 so containers cannot borrow the instance role.
        "MetadataOptions": {
            "HttpTokens": "required",
            "HttpEndpoint": "enabled",
            "HttpPutResponseHopLimit": 1,
        },
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": ec2_tags},
            {"ResourceType": "volume", "Tags": ec2_tags},
        ],
    }
    if settings.instance_profile_arn:
        template_data["IamInstanceProfile"] = {"Arn": settings.instance_profile_arn}
    if settings.security_groups:
        template_data["SecurityGroupIds"] = list(settings.security_groups)
    spot = spec.capacity.spot
    requests = {
        "launchTemplate": {
            "LaunchTemplateName": name,
            "LaunchTemplateData": template_data,
            "TagSpecifications": [{"ResourceType": "launch-template", "Tags": ec2_tags}],
        },
        "autoScalingGroup": {
            "AutoScalingGroupName": name,
            "MinSize": 0,
            "MaxSize": spec.capacity.max_instances,
            "DesiredCapacity": 0,
            "MixedInstancesPolicy": {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {"LaunchTemplateName": name, "Version": "$Latest"},
                    "Overrides": [{"InstanceType": t} for t in types],
                },
                "InstancesDistribution": {
                    "OnDemandBaseCapacity": 0,
                    "OnDemandPercentageAboveBaseCapacity": 0 if spot else 100,
                    "SpotAllocationStrategy": "price-capacity-optimized",
                },
            },
            "VPCZoneIdentifier": ",".join(settings.subnets),
            "NewInstancesProtectedFromScaleIn": True,
            # Off: "Amazon ECS does not receive a notice ... when instances are removed by Auto Scaling Capacity
            # Rebalancing" (ECS Spot guide), and a standalone ODM task cannot move: rebalancing would only kill it.
            "CapacityRebalance": False,
            "Tags": [
                {**t, "PropagateAtLaunch": True, "ResourceId": name, "ResourceType": "auto-scaling-group"}
                for t in ec2_tags
            ],
        },
        "capacityProvider": {
            "name": name,
            "autoScalingGroupProvider": {
                "autoScalingGroupArn": f"<arn of Auto Scaling group {name}>",
                "managedScaling": {
                    "status": "ENABLED",
                    "targetCapacity": TARGET_CAPACITY,
                    "minimumScalingStepSize": 1,
                    "maximumScalingStepSize": MAX_SCALING_STEP,
                    "instanceWarmupPeriod": INSTANCE_WARMUP_SECONDS,
                },
                "managedTerminationProtection": "ENABLED",
                "managedDraining": "ENABLED",
            },
            "tags": resource_tags(settings, {}),
        },
    }
    strategy = [{"capacityProvider": name, "weight": 1, "base": 0}]
    return DesiredCapacity("managed", cluster, strategy, name, requests)


__all__ = ["ONE_TASK_PER_INSTANCE", "ami_parameter", "disk_band", "managed_capacity", "user_data"]
