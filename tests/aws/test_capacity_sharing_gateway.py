"""Shared managed capacity against the AWS emulator: a job asking for more instances raises the shared group's
MaxSize, and at ECS's 20 providers per cluster nothing is created and the caller is told to wait."""

from __future__ import annotations

import pytest

from odm_operator.aws.capacity_providers import QUOTA_FULL, ProviderQuotaFull
from odm_operator.aws.errors import AwsCallError

from .test_capacity_gateway import desired, gateway


def max_size(client, name: str) -> int:
    groups = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    return groups[0]["MaxSize"]


def test_a_job_with_more_max_instances_raises_the_shared_groups_max_size(aws, client):
    client("ecs").create_cluster(clusterName="odm")
    small, large = desired(client, maxInstances=3), desired(client, maxInstances=8)
    assert small.provider == large.provider, "maxInstances does not split a provider"
    capacity = gateway(client)
    capacity.ensure("odm", small.provider, small.requests)
    assert max_size(client, small.provider) == 3
    capacity.ensure("odm", large.provider, large.requests)
    assert max_size(client, large.provider) == 8
    capacity.ensure("odm", small.provider, small.requests)
    assert max_size(client, small.provider) == 8, "never lowered: a running job may need it"
    assert gateway(client).ensure("odm", large.provider, large.requests) is False, (
        "a fresh gateway observes it"
    )


def test_at_twenty_providers_nothing_is_created_and_the_job_waits(aws, client):
    ecs = client("ecs")
    names = ["FARGATE", "FARGATE_SPOT"]
    for index in range(18):
        name = f"team-{index}"
        ecs.create_capacity_provider(
            name=name,
            autoScalingGroupProvider={
                "autoScalingGroupArn": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:x:"
                f"autoScalingGroupName/{name}"
            },
        )
        names.append(name)
    ecs.create_cluster(clusterName="odm", capacityProviders=names)
    cap = desired(client)
    with pytest.raises(ProviderQuotaFull) as info:
        gateway(client).ensure("odm", cap.provider, cap.requests)
    assert info.value.code == QUOTA_FULL and info.value.kind == "transient"
    assert "20" in info.value.message
    templates = client("ec2").describe_launch_templates()["LaunchTemplates"]
    assert [t["LaunchTemplateName"] for t in templates] == [], "nothing half-created"


def test_a_refused_group_leaves_no_launch_template_behind(aws, client):
    """CreateAutoScalingGroup refuses an arm64 type under the x86_64 AMI (ValidationError): the template this
    pass created is deleted again, since no provider would ever point the janitor at it."""
    client("ecs").create_cluster(clusterName="odm")
    cap = desired(client)
    overrides = cap.requests["autoScalingGroup"]["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]
    overrides[:] = [{"InstanceType": "m7g.2xlarge"}]  # what admission refuses; built by hand to reach AWS
    with pytest.raises(AwsCallError) as info:
        gateway(client).ensure("odm", cap.provider, cap.requests)
    assert info.value.code == "ValidationError"
    assert client("ec2").describe_launch_templates()["LaunchTemplates"] == []
