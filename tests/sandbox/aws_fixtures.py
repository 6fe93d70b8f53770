"""Helpers for the AWS sandbox tests: boto3 clients, the ODM task definition and an EC2 capacity provider,
created over HTTP the way the operator creates them.
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from odm_operator import contract
from odm_operator.plan.odm_command import STAGE_OUT_SCRIPT
from odm_sandbox.aws import AwsSandbox

CLUSTER = "odm"
LOG_GROUP = "/odm-operator/jobs"
AWS_CLI_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.17.0"
ODM_IMAGE = "opendronemap/odm:3.6.0"
AL2023_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"

# Tests want to see throttling and faults, not botocore retrying them away.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client(sandbox: AwsSandbox, service: str, config: Config | None = None) -> Any:
    """A boto3 client for the sandbox; clients without a config are cached (creating one costs ~50 ms)."""
    if config is not None:
        return _new_client(sandbox.endpoint_url, sandbox.region, service, config)
    return _cached_client(sandbox.endpoint_url, sandbox.region, service)


def _new_client(endpoint_url: str, region: str, service: str, config: Config | None) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


@functools.lru_cache(maxsize=64)
def _cached_client(endpoint_url: str, region: str, service: str) -> Any:
    return _new_client(endpoint_url, region, service, None)


def wait_for(predicate: Callable[[], Any], timeout_s: float = 15.0, interval_s: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


EXECUTION_ROLE_ARN = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"


def container_definitions(region: str) -> list[dict[str, Any]]:
    def logs(name: str) -> dict[str, Any]:
        return {
            "logDriver": "awslogs",
            "options": {"awslogs-group": LOG_GROUP, "awslogs-region": region, "awslogs-stream-prefix": "odm"},
        }

    mount = [{"sourceVolume": contract.WORK_VOLUME, "containerPath": contract.DATA_DIR}]
    return [
        {
            "name": contract.STAGE_IN,
            "image": AWS_CLI_IMAGE,
            "essential": False,
            "memoryReservation": 256,
            "mountPoints": mount,
            "logConfiguration": logs(contract.STAGE_IN),
        },
        {
            "name": contract.ODM,
            "image": ODM_IMAGE,
            "essential": False,
            "environment": [{"name": "no_ansiesc", "value": "1"}],  # as the operator sets it
            "memoryReservation": 1024,
            "mountPoints": mount,
            "dependsOn": [{"containerName": contract.STAGE_IN, "condition": "SUCCESS"}],
            "logConfiguration": logs(contract.ODM),
        },
        {
            "name": contract.STAGE_OUT,
            "image": AWS_CLI_IMAGE,
            "essential": True,
            "entryPoint": ["/bin/sh", "-c"],
            "command": [STAGE_OUT_SCRIPT],  # the operator's: the sandbox applies its upload filters
            "memoryReservation": 256,
            "mountPoints": mount,
            "dependsOn": [{"containerName": contract.ODM, "condition": "COMPLETE"}],
            "logConfiguration": logs(contract.STAGE_OUT),
        },
    ]


def register_odm_task_definition(
    ecs: Any, region: str, memory: str = "16384", family: str = "odm-test"
) -> str:
    response = ecs.register_task_definition(
        family=family,
        containerDefinitions=container_definitions(region),
        volumes=[{"name": contract.WORK_VOLUME}],
        cpu="4096",
        memory=memory,
        networkMode="awsvpc",
        requiresCompatibilities=["EC2", "FARGATE"],
        executionRoleArn=EXECUTION_ROLE_ARN,  # Fargate's awslogs needs one
    )
    return response["taskDefinition"]["taskDefinitionArn"]


def network(ec2: Any) -> dict[str, Any]:
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    return {
        "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group], "assignPublicIp": "DISABLED"}
    }


def create_ec2_capacity(
    sandbox: AwsSandbox, name: str, max_size: int, instance_types: list[str], cluster: str = CLUSTER
) -> str:
    """Launch template + Auto Scaling group (min 0) + managed-scaling capacity provider on ``cluster``."""
    ec2, asg, ecs, ssm = (client(sandbox, s) for s in ("ec2", "autoscaling", "ecs", "ssm"))
    ami = ssm.get_parameter(Name=AL2023_AMI_PARAMETER)["Parameter"]["Value"]
    user_data = f"#!/bin/bash\ncat <<'EOF' >> /etc/ecs/ecs.config\nECS_CLUSTER={cluster}\nEOF\n"
    ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": ami, "UserData": base64.b64encode(user_data.encode()).decode()},
    )
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=max_size,
        DesiredCapacity=0,
        VPCZoneIdentifier=",".join(subnets),
        NewInstancesProtectedFromScaleIn=True,
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateName": name, "Version": "$Latest"},
                "Overrides": [{"InstanceType": t} for t in instance_types],
            },
            "InstancesDistribution": {
                "OnDemandPercentageAboveBaseCapacity": 0,
                "SpotAllocationStrategy": "price-capacity-optimized",
            },
        },
    )
    group_arn = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
        "AutoScalingGroupARN"
    ]
    ecs.create_capacity_provider(
        name=name,
        autoScalingGroupProvider={
            "autoScalingGroupArn": group_arn,
            "managedScaling": {"status": "ENABLED", "targetCapacity": 100},
            "managedTerminationProtection": "ENABLED",
        },
    )
    providers = ecs.describe_clusters(clusters=[cluster])["clusters"][0].get("capacityProviders", [])
    ecs.put_cluster_capacity_providers(
        cluster=cluster, capacityProviders=[*providers, name], defaultCapacityProviderStrategy=[]
    )
    return name


def job_overrides(
    input_uri: str, output_uri: str, odm_args: list[str], memory: str | None = None
) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "containerOverrides": [
            {
                "name": contract.STAGE_IN,
                "environment": [{"name": contract.ENV_INPUT_URI, "value": input_uri}],
            },
            {
                "name": contract.ODM,
                "command": ["--project-path", contract.DATA_DIR, contract.PROJECT, *odm_args],
            },
            {
                "name": contract.STAGE_OUT,
                "environment": [{"name": contract.ENV_OUTPUT_URI, "value": output_uri}],
            },
        ]
    }
    if memory is not None:
        overrides["memory"] = memory
    return overrides


def job_tags(namespace: str, name: str) -> list[dict[str, str]]:
    return [
        {"key": contract.TAG_MANAGED_BY, "value": contract.MANAGED_BY_VALUE},
        {"key": contract.TAG_JOB_NAMESPACE, "value": namespace},
        {"key": contract.TAG_JOB_NAME, "value": name},
    ]


def describe(ecs: Any, task_arn: str, cluster: str = CLUSTER) -> dict[str, Any]:
    return ecs.describe_tasks(cluster=cluster, tasks=[task_arn], include=["TAGS"])["tasks"][0]


def wait_status(
    ecs: Any, task_arn: str, status: str, timeout_s: float = 15.0, cluster: str = CLUSTER
) -> dict:
    def reached() -> dict | None:
        task = describe(ecs, task_arn, cluster)
        return task if task["lastStatus"] == status else None

    return wait_for(reached, timeout_s)


def containers_by_name(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in task["containers"]}


def odm_log_messages(logs: Any, task_arn: str) -> list[str]:
    stream = f"odm/{contract.ODM}/{task_arn.rsplit('/', 1)[-1]}"
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)["events"]
    return [e["message"] for e in events]
