"""The AWS emulator refuses what AWS refuses, with AWS's error codes (HTTP 400, not moto's 500), over HTTP with
real boto3 clients; and it behaves as ECS does where the operator depends on it (EC2 Spot host loss, pull rate
limits, one-task-per-instance placement)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aws_fixtures import (
    CLUSTER,
    EXECUTION_ROLE_ARN,
    NO_RETRIES,
    client,
    container_definitions,
    create_ec2_capacity,
    job_overrides,
    network,
    register_odm_task_definition,
    wait_for,
)
from botocore.exceptions import ClientError

from odm_sandbox.aws import AwsSandbox, Timings
from odm_sandbox.aws.datasets import INPUT_BUCKET, OUTPUT_BUCKET

SMALL = f"s3://{INPUT_BUCKET}/small/"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AwsSandbox]:
    with AwsSandbox(
        time_scale=1200.0, timings=Timings(provisioning_timeout_s=600.0), quotas=False
    ).start() as aws:
        yield aws


@pytest.fixture
def aws(sandbox: AwsSandbox) -> Iterator[AwsSandbox]:
    sandbox.reset()
    client(sandbox, "ecs").create_cluster(clusterName=CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT"])
    yield sandbox
    assert sandbox.agent.errors == []


def refused(call: Any, code: str, fragment: str) -> None:
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response
    assert error["Error"]["Code"] == code, error
    assert fragment in error["Error"]["Message"], error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400, "a client error, not moto's 500"


def definition(**changes: Any) -> dict[str, Any]:
    body = {
        "family": "odm-rule",
        "containerDefinitions": container_definitions("us-east-1"),
        "volumes": [{"name": "work"}],
        "cpu": "4096",
        "memory": "16384",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "executionRoleArn": EXECUTION_ROLE_ARN,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


class TestRegisterTaskDefinition:
    def test_reservations_above_the_task_memory_are_a_client_exception(self, aws):
        ecs = client(aws, "ecs", NO_RETRIES)
        # 256 + 1024 + 256 MiB reserved in a 1024 MiB task (ContainerDefinition.memoryReservation)
        refused(
            lambda: ecs.register_task_definition(**definition(cpu="512", memory="1024")),
            "ClientException",
            "The sum of all container 'memoryReservation' values cannot be greater than the value of the task",
        )

    def test_reservations_equal_to_the_task_memory_are_accepted(self, aws):
        ecs = client(aws, "ecs", NO_RETRIES)
        ecs.register_task_definition(**definition(cpu="512", memory="1536"))

    def test_a_container_limit_above_the_task_memory_is_a_client_exception(self, aws):
        containers = container_definitions("us-east-1")
        containers[1]["memory"] = 32768
        refused(
            lambda: client(aws, "ecs", NO_RETRIES).register_task_definition(
                **definition(containerDefinitions=containers)
            ),
            "ClientException",
            "The 'memory' setting for container 'odm' is greater than for the task.",
        )

    def test_fargate_awslogs_needs_an_execution_role(self, aws):
        refused(
            lambda: client(aws, "ecs", NO_RETRIES).register_task_definition(
                **definition(executionRoleArn=None)
            ),
            "ClientException",
            "Fargate requires task definition to have execution role ARN to support log driver awslogs",
        )


class TestRunTask:
    def test_awsvpc_with_empty_subnets_is_invalid_parameter_not_500(self, aws):
        ecs = client(aws, "ecs", NO_RETRIES)
        arn = register_odm_task_definition(ecs, aws.region)
        config = network(client(aws, "ec2"))
        config["awsvpcConfiguration"]["subnets"] = []
        refused(
            lambda: ecs.run_task(
                cluster=CLUSTER,
                taskDefinition=arn,
                capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
                networkConfiguration=config,
            ),
            "InvalidParameterException",
            "subnets can not be empty.",
        )

    def test_awsvpc_without_a_network_configuration_is_invalid_parameter(self, aws):
        ecs = client(aws, "ecs", NO_RETRIES)
        arn = register_odm_task_definition(ecs, aws.region)
        refused(
            lambda: ecs.run_task(
                cluster=CLUSTER,
                taskDefinition=arn,
                capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
            ),
            "InvalidParameterException",
            "Network Configuration must be provided",
        )

    def test_awsvpc_without_security_groups_uses_the_vpcs_default_group(self, aws):
        """ECS accepts it (AwsVpcConfiguration.securityGroups is optional); moto alone answers HTTP 500."""
        ecs, ec2 = client(aws, "ecs", NO_RETRIES), client(aws, "ec2")
        config = network(ec2)
        del config["awsvpcConfiguration"]["securityGroups"]
        task = ecs.run_task(
            cluster=CLUSTER,
            taskDefinition=register_odm_task_definition(ecs, aws.region),
            capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
            networkConfiguration=config,
        )["tasks"][0]
        assert task["lastStatus"] == "PROVISIONING"

    def test_an_unknown_placement_constraint_type_is_invalid_parameter(self, aws):
        ecs = client(aws, "ecs", NO_RETRIES)
        arn = register_odm_task_definition(ecs, aws.region)
        refused(
            lambda: ecs.run_task(
                cluster=CLUSTER,
                taskDefinition=arn,
                capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
                networkConfiguration=network(client(aws, "ec2")),
                placementConstraints=[{"type": "spread"}],
            ),
            "InvalidParameterException",
            "placement constraint",
        )


class TestListTasks:
    def test_started_by_must_be_the_only_filter(self, aws):
        refused(
            lambda: client(aws, "ecs", NO_RETRIES).list_tasks(
                cluster=CLUSTER, startedBy="odm/x", desiredStatus="STOPPED"
            ),
            "InvalidParameterException",
            "startedBy must be the only filter",
        )

    def test_started_by_alone_is_accepted(self, aws):
        assert client(aws, "ecs").list_tasks(cluster=CLUSTER, startedBy="odm/x")["taskArns"] == []


class TestCapacityProviderQuota:
    def test_a_21st_provider_on_a_cluster_is_limit_exceeded(self, aws):
        ecs = client(aws, "ecs", NO_RETRIES)
        names = ["FARGATE", "FARGATE_SPOT"]
        for index in range(19):
            name = f"cp-{index}"
            ecs.create_capacity_provider(
                name=name,
                autoScalingGroupProvider={
                    "autoScalingGroupArn": f"arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:x:"
                    f"autoScalingGroupName/{name}"
                },
            )
            names.append(name)
        ecs.put_cluster_capacity_providers(
            cluster=CLUSTER, capacityProviders=names[:20], defaultCapacityProviderStrategy=[]
        )
        refused(
            lambda: ecs.put_cluster_capacity_providers(
                cluster=CLUSTER, capacityProviders=names, defaultCapacityProviderStrategy=[]
            ),
            "LimitExceededException",
            "limit is 20 capacity providers per cluster",
        )


class TestCreateAutoScalingGroup:
    @pytest.mark.parametrize(
        ("parameter", "instance_type", "ok"),
        [
            pytest.param("amazon-linux-2023", "m7g.2xlarge", False, id="arm64 type, x86_64 AMI"),
            pytest.param("amazon-linux-2023/arm64", "m6i.2xlarge", False, id="x86_64 type, arm64 AMI"),
            pytest.param("amazon-linux-2023/arm64", "m7g.2xlarge", True, id="arm64 on arm64"),
            pytest.param("amazon-linux-2023", "m6i.2xlarge", True, id="x86_64 on x86_64"),
        ],
    )
    def test_instance_type_and_ami_architectures_must_match(self, aws, parameter, instance_type, ok):
        ec2, asg = client(aws, "ec2"), client(aws, "autoscaling", NO_RETRIES)
        image = f"resolve:ssm:/aws/service/ecs/optimized-ami/{parameter}/recommended/image_id"
        ec2.create_launch_template(LaunchTemplateName="odm-lt", LaunchTemplateData={"ImageId": image})
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]

        def create():
            asg.create_auto_scaling_group(
                AutoScalingGroupName="odm-g",
                MinSize=0,
                MaxSize=1,
                VPCZoneIdentifier=subnet,
                MixedInstancesPolicy={
                    "LaunchTemplate": {
                        "LaunchTemplateSpecification": {"LaunchTemplateName": "odm-lt", "Version": "$Latest"},
                        "Overrides": [{"InstanceType": instance_type}],
                    }
                },
            )

        if ok:
            create()
        else:
            refused(create, "ValidationError", "does not match the architecture")


def run_on(aws: AwsSandbox, provider: str, name: str, constraints: list[dict[str, str]] | None = None) -> str:
    ecs = client(aws, "ecs")
    extra = {"placementConstraints": constraints} if constraints else {}
    return ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=register_odm_task_definition(ecs, aws.region, memory="4096"),
        capacityProviderStrategy=[{"capacityProvider": provider, "weight": 1}],
        networkConfiguration=network(client(aws, "ec2")),
        overrides=job_overrides(SMALL, f"s3://{OUTPUT_BUCKET}/{name}/", ["--dsm"], None),
        **extra,
    )["tasks"][0]["taskArn"]


def described(aws: AwsSandbox, arn: str) -> dict[str, Any]:
    return client(aws, "ecs").describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]


class TestEc2Behaviour:
    def test_an_ec2_spot_interruption_is_host_termination_without_exit_codes(self, aws):
        # ODM runs for ten simulated hours (30 s here), so the task is still RUNNING whenever this test looks: a
        # 30-image run is half a second at this clock, and a loaded machine could miss it.
        # ECS keeps the stopped task for a simulated day here (72 s), long enough to be read on a loaded machine.
        aws.set_timings(
            Timings(provisioning_timeout_s=600.0, odm_base_s=36_000.0, stopped_retention_s=86_400.0)
        )
        try:
            provider = create_ec2_capacity(aws, "spot", 2, ["m6i.2xlarge"])
            arn = run_on(aws, provider, "spot")
            wait_for(lambda: described(aws, arn)["lastStatus"] == "RUNNING", 30)
            assert aws.interrupt(arn)
            task = wait_for(lambda: (t := described(aws, arn))["lastStatus"] == "STOPPED" and t, 30)
        finally:
            aws.set_timings(Timings(provisioning_timeout_s=600.0))
        assert (
            task["stoppedReason"].startswith("Host EC2 (instance i-")
            and "terminated" in task["stoppedReason"]
        )
        assert task.get("stopCode") != "SpotInterruption", (
            "that is Fargate Spot's; EC2 standalone tasks die with the host"
        )
        exits = {c["name"]: c.get("exitCode") for c in task["containers"]}
        assert exits["odm"] is None and exits["stage-out"] is None, "killed with the host: no exit code"

    def test_one_task_per_instance_placement_launches_a_second_instance(self, aws):
        provider = create_ec2_capacity(aws, "one", 3, ["m6i.4xlarge"])
        only_idle = [{"type": "memberOf", "expression": "runningTasksCount == 0"}]
        first = run_on(aws, provider, "a", only_idle)
        second = run_on(aws, provider, "b", only_idle)
        tasks = wait_for(
            lambda: (
                all(
                    (t := [described(aws, a) for a in (first, second)])[i]["lastStatus"] == "RUNNING"
                    for i in (0, 1)
                )
                and t
            ),
            30,
        )
        instances = {t["containerInstanceArn"] for t in tasks}
        assert len(instances) == 2, (
            "two 4 GiB tasks fit one m6i.4xlarge, but the constraint wants an idle one"
        )

    def test_without_the_constraint_tasks_binpack_onto_one_instance(self, aws):
        provider = create_ec2_capacity(aws, "pack", 3, ["m6i.4xlarge"])
        first, second = run_on(aws, provider, "a"), run_on(aws, provider, "b")
        tasks = wait_for(
            lambda: (
                all(
                    (t := [described(aws, a) for a in (first, second)])[i]["lastStatus"] == "RUNNING"
                    for i in (0, 1)
                )
                and t
            ),
            30,
        )
        assert len({t["containerInstanceArn"] for t in tasks}) == 1


class TestPullRateLimit:
    def control(self, aws: AwsSandbox, enabled: bool) -> None:
        request = urllib.request.Request(
            aws.control_url + "/pull-limit", data=json.dumps({"enabled": enabled}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["pullLimited"] is enabled

    def test_docker_hub_pulls_fail_with_toomanyrequests_while_the_limit_is_on(self, aws):
        self.control(aws, True)
        arn = run_on(aws, "FARGATE", "limited")
        task = wait_for(lambda: (t := described(aws, arn))["lastStatus"] == "STOPPED" and t, 30)
        assert task["stopCode"] == "TaskFailedToStart"
        assert (
            "CannotPullContainerError" in task["stoppedReason"] and "toomanyrequests" in task["stoppedReason"]
        )
        self.control(aws, False)
        again = run_on(aws, "FARGATE", "unlimited")
        wait_for(lambda: described(aws, again)["lastStatus"] in ("RUNNING", "STOPPED"), 30)
        assert described(aws, again).get("stopCode") != "TaskFailedToStart"
