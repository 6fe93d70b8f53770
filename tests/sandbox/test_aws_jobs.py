"""ODM jobs on the AWS sandbox, driven over HTTP with boto3 as the operator drives them.

Each test creates what the operator would (cluster, task definition, launch template, Auto Scaling group,
capacity provider), runs a task and checks what ECS, S3 and CloudWatch Logs show. Time runs 1200x faster, so a
30-image job takes under a second.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from aws_fixtures import (
    CLUSTER,
    client,
    containers_by_name,
    create_ec2_capacity,
    describe,
    job_overrides,
    job_tags,
    network,
    odm_log_messages,
    register_odm_task_definition,
    wait_for,
    wait_status,
)
from botocore.exceptions import ClientError

from odm_operator import contract
from odm_sandbox.aws import AwsSandbox, Timings
from odm_sandbox.aws.datasets import INPUT_BUCKET, OUTPUT_BUCKET

TIME_SCALE = 1200.0
# Default timings except a 10-minute provisioning timeout (1 s real) and a quick idle scale-in.
TIMINGS = Timings(provisioning_timeout_s=600.0, idle_instance_s=300.0)

SMALL = f"s3://{INPUT_BUCKET}/small/"
EMPTY = f"s3://{INPUT_BUCKET}/empty/"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AwsSandbox]:
    with AwsSandbox(time_scale=TIME_SCALE, timings=TIMINGS).start() as aws:
        yield aws


@pytest.fixture
def aws(sandbox: AwsSandbox) -> Iterator[AwsSandbox]:
    sandbox.reset()
    client(sandbox, "ecs").create_cluster(clusterName=CLUSTER)
    yield sandbox
    assert sandbox.agent.errors == []


@pytest.fixture
def ecs(aws: AwsSandbox) -> Any:
    return client(aws, "ecs")


@pytest.fixture
def slow_odm(aws: AwsSandbox) -> Iterator[None]:
    """ODM runs ~10 real seconds, so a test can act while it runs; the stop makes the test end early."""
    aws.set_timings(replace(TIMINGS, odm_per_image_s=400.0))
    yield
    aws.set_timings(TIMINGS)


@pytest.fixture
def steady_odm(aws: AwsSandbox) -> Iterator[None]:
    """ODM runs ~1.5 real seconds: long enough for a poller to see several stages go by."""
    aws.set_timings(replace(TIMINGS, odm_per_image_s=60.0))
    yield
    aws.set_timings(TIMINGS)


def run_job(
    aws: AwsSandbox,
    provider: str,
    input_uri: str = SMALL,
    output_uri: str = f"s3://{OUTPUT_BUCKET}/job/",
    odm_args: tuple[str, ...] = ("--dsm",),
    memory: str | None = None,
    task_definition: str | None = None,
    name: str = "job",
) -> dict[str, Any]:
    ecs = client(aws, "ecs")
    response = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=task_definition or register_odm_task_definition(ecs, aws.region),
        capacityProviderStrategy=[{"capacityProvider": provider, "weight": 1}],
        networkConfiguration=network(client(aws, "ec2")),
        startedBy=contract.started_by(f"uid-{name}"),
        tags=job_tags("mapping", name),
        overrides=job_overrides(input_uri, output_uri, list(odm_args), memory),
    )
    assert response["failures"] == []
    return response["tasks"][0]


def attach_fargate(aws: AwsSandbox) -> None:
    client(aws, "ecs").put_cluster_capacity_providers(
        cluster=CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=[]
    )


def output_keys(aws: AwsSandbox, prefix: str = "job/") -> set[str]:
    listing = client(aws, "s3").list_objects_v2(Bucket=OUTPUT_BUCKET, Prefix=prefix)
    return {item["Key"][len(prefix) :] for item in listing.get("Contents", [])}


def stage_markers(messages: list[str]) -> list[str]:
    return [m.split()[1] + " " + m.split()[2] for m in messages if m.endswith(" stage")]


class TestScaleFromZero:
    def test_a_task_on_an_empty_ec2_provider_waits_in_provisioning_then_runs_on_a_new_instance(
        self, aws, ecs
    ):
        provider = create_ec2_capacity(aws, "odm-r5", max_size=2, instance_types=["r5.xlarge", "r5.2xlarge"])
        task = run_job(aws, provider)
        assert task["lastStatus"] == "PROVISIONING"
        assert [c["name"] for c in task["containers"]] == list(contract.CONTAINERS)

        running = wait_status(ecs, task["taskArn"], "RUNNING")

        instance_arn = running["containerInstanceArn"]
        instance = ecs.describe_container_instances(cluster=CLUSTER, containerInstances=[instance_arn])[
            "containerInstances"
        ][0]
        attributes = {a["name"]: a.get("value") for a in instance["attributes"]}
        assert attributes["ecs.instance-type"] == "r5.xlarge"
        registered = {r["name"]: r.get("integerValue") for r in instance["registeredResources"]}
        assert registered["CPU"] == 4096
        assert 30000 < registered["MEMORY"] < 32768
        group = client(aws, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[provider])
        assert group["AutoScalingGroups"][0]["DesiredCapacity"] == 1

    def test_a_successful_job_stops_with_every_container_exited_zero_and_products_uploaded(self, aws, ecs):
        provider = create_ec2_capacity(aws, "odm-r5", max_size=2, instance_types=["r5.xlarge"])
        task = run_job(aws, provider, odm_args=("--dsm", "--orthophoto-resolution", "2"))

        stopped = wait_status(ecs, task["taskArn"], "STOPPED")

        assert stopped["desiredStatus"] == "STOPPED"
        assert stopped["stopCode"] == "EssentialContainerExited"
        assert stopped["stoppedReason"] == "Essential container in task exited"
        assert {n: (c["lastStatus"], c.get("exitCode")) for n, c in containers_by_name(stopped).items()} == {
            contract.STAGE_IN: ("STOPPED", 0),
            contract.ODM: ("STOPPED", 0),
            contract.STAGE_OUT: ("STOPPED", 0),
        }
        moments = [
            stopped[k]
            for k in ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt",
                      "executionStoppedAt", "stoppedAt")
        ]  # fmt: skip
        assert moments == sorted(moments)
        assert stopped["version"] > 5
        keys = output_keys(aws)
        assert {
            "odm_orthophoto/odm_orthophoto.tif",
            "odm_dem/dsm.tif",
            "odm_georeferencing/odm_georeferenced_model.laz",
            "odm_texturing/odm_textured_model_geo.obj",
            "odm_report/report.pdf",
            "cameras.json",
            "images.json",
            "log.json",
            "all.zip",
        } <= keys
        assert not [k for k in keys if k.startswith(("opensfm/", "odm_texturing_25d/", "odm_dem/dtm"))]

    def test_odm_logs_every_stage_in_order_to_the_task_log_stream(self, aws, ecs):
        provider = create_ec2_capacity(aws, "odm-r5", max_size=1, instance_types=["r5.xlarge"])
        task = run_job(aws, provider, odm_args=("--dsm",))
        wait_status(ecs, task["taskArn"], "STOPPED")

        messages = odm_log_messages(client(aws, "logs"), task["taskArn"])

        stages = ["dataset", "split", "merge", "opensfm", "openmvs", "odm_filterpoints", "odm_meshing", "mvs_texturing",
                  "odm_georeferencing", "odm_dem", "odm_orthophoto", "odm_report", "odm_postprocess"]  # fmt: skip
        assert stage_markers(messages) == [f"{verb} {s}" for s in stages for verb in ("Running", "Finished")]
        assert "[INFO]    Running dataset stage" in messages
        assert "[INFO]    Loading 30 images" in messages

    def test_a_poller_sees_odm_progress_rise_while_the_task_runs(self, aws, ecs, steady_odm):
        attach_fargate(aws)
        task = run_job(aws, "FARGATE")
        logs = client(aws, "logs")
        seen: list[int] = []

        def odm_finished() -> bool:
            try:
                finished = sum(
                    m.startswith("[INFO]    Finished") for m in odm_log_messages(logs, task["taskArn"])
                )
            except ClientError:  # the stream appears with ODM's first line
                finished = 0
            if not seen or seen[-1] != finished:
                seen.append(finished)
            return describe(ecs, task["taskArn"])["lastStatus"] == "STOPPED"

        wait_for(odm_finished, interval_s=0.05)
        assert len(seen) >= 4, f"progress jumped: {seen}"
        assert seen == sorted(seen)

    def test_idle_instances_are_scaled_in_after_the_tasks_stop(self, aws, ecs):
        provider = create_ec2_capacity(aws, "odm-r5", max_size=1, instance_types=["r5.xlarge"])
        task = run_job(aws, provider)
        wait_status(ecs, task["taskArn"], "STOPPED")

        wait_for(lambda: not ecs.list_container_instances(cluster=CLUSTER)["containerInstanceArns"])

        group = client(aws, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[provider])
        assert group["AutoScalingGroups"][0]["DesiredCapacity"] == 0
        assert group["AutoScalingGroups"][0]["Instances"] == []

    def test_tasks_that_fit_together_share_one_instance_of_the_first_type_big_enough(self, aws, ecs):
        provider = create_ec2_capacity(aws, "odm-m5", max_size=3, instance_types=["m5.xlarge", "m5.4xlarge"])
        task_definition = register_odm_task_definition(ecs, aws.region)
        arns = [
            run_job(aws, provider, task_definition=task_definition, name=f"j{i}")["taskArn"] for i in range(3)
        ]

        placed = [wait_status(ecs, arn, "RUNNING") for arn in arns]

        assert len({t["containerInstanceArn"] for t in placed}) == 1
        instances = client(aws, "ec2").describe_instances()["Reservations"]
        assert [i["InstanceType"] for r in instances for i in r["Instances"]] == ["m5.4xlarge"]

    def test_a_gpu_task_is_placed_on_a_gpu_instance_and_given_its_gpu(self, aws, ecs):
        provider = create_ec2_capacity(
            aws, "odm-gpu", max_size=1, instance_types=["r5.2xlarge", "g4dn.4xlarge"]
        )
        definitions = register_odm_task_definition(ecs, aws.region, family="odm-gpu")
        body = ecs.describe_task_definition(taskDefinition=definitions)["taskDefinition"]
        body["containerDefinitions"][1]["resourceRequirements"] = [{"type": "GPU", "value": "1"}]
        arn = ecs.register_task_definition(
            family="odm-gpu",
            containerDefinitions=body["containerDefinitions"],
            volumes=body["volumes"],
            cpu="4096",
            memory="16384",
            networkMode="awsvpc",
        )["taskDefinition"]["taskDefinitionArn"]

        running = wait_status(ecs, run_job(aws, provider, task_definition=arn)["taskArn"], "RUNNING")

        odm = containers_by_name(running)[contract.ODM]
        assert len(odm["gpuIds"]) == 1
        instance = ecs.describe_container_instances(
            cluster=CLUSTER, containerInstances=[running["containerInstanceArn"]]
        )["containerInstances"][0]
        assert {a["name"]: a.get("value") for a in instance["attributes"]}[
            "ecs.instance-type"
        ] == "g4dn.4xlarge"


class TestFailures:
    def test_an_empty_input_prefix_fails_stage_in_and_odm_never_starts(self, aws, ecs):
        attach_fargate(aws)
        task = run_job(aws, "FARGATE", input_uri=EMPTY)

        stopped = wait_status(ecs, task["taskArn"], "STOPPED")

        containers = containers_by_name(stopped)
        assert containers[contract.STAGE_IN]["exitCode"] == 1
        assert "empty" in containers[contract.STAGE_IN]["reason"]
        assert "exitCode" not in containers[contract.ODM]
        assert "exitCode" not in containers[contract.STAGE_OUT]
        assert stopped["stopCode"] == "EssentialContainerExited"
        assert output_keys(aws) == set()

    def test_a_missing_input_bucket_fails_stage_in_as_unreadable(self, aws, ecs):
        attach_fargate(aws)
        task = run_job(aws, "FARGATE", input_uri="s3://no-such-bucket/photos/")

        stopped = wait_status(ecs, task["taskArn"], "STOPPED")

        stage_in = containers_by_name(stopped)[contract.STAGE_IN]
        assert stage_in["exitCode"] == 1
        assert "unreadable" in stage_in["reason"]

    def test_too_little_memory_for_the_image_count_kills_odm_with_exit_137(self, aws, ecs):
        attach_fargate(aws)
        # 30 images need 4 GiB (ODM's table); the task has 2 GiB.
        task = run_job(aws, "FARGATE", memory="2048")

        stopped = wait_status(ecs, task["taskArn"], "STOPPED")

        containers = containers_by_name(stopped)
        assert containers[contract.STAGE_IN]["exitCode"] == 0
        assert containers[contract.ODM]["exitCode"] == 137
        assert containers[contract.ODM]["reason"].startswith("OutOfMemoryError")
        assert containers[contract.STAGE_OUT]["exitCode"] == 0
        messages = odm_log_messages(client(aws, "logs"), task["taskArn"])
        assert any("You ran out of memory!" in m for m in messages)
        assert "[INFO]    Finished odm_postprocess stage" not in messages
        assert output_keys(aws) == {"log.json"}
        log_json = client(aws, "s3").get_object(Bucket=OUTPUT_BUCKET, Key="job/log.json")["Body"].read()
        assert json.loads(log_json)["success"] is False

    def test_a_missing_output_bucket_fails_stage_out(self, aws, ecs):
        attach_fargate(aws)
        task = run_job(aws, "FARGATE", output_uri="s3://no-such-output/job/")

        stopped = wait_status(ecs, task["taskArn"], "STOPPED")

        containers = containers_by_name(stopped)
        assert containers[contract.ODM]["exitCode"] == 0
        assert containers[contract.STAGE_OUT]["exitCode"] == 1
        assert "upload failed" in containers[contract.STAGE_OUT]["reason"]
        assert stopped["stopCode"] == "EssentialContainerExited"

    def test_a_group_with_max_size_zero_leaves_the_task_provisioning_until_it_fails_to_start(self, aws, ecs):
        provider = create_ec2_capacity(aws, "odm-none", max_size=0, instance_types=["r5.xlarge"])
        task = run_job(aws, provider)

        stopped = wait_status(ecs, task["taskArn"], "STOPPED")

        assert stopped["stopCode"] == "TaskFailedToStart"
        assert stopped["stoppedReason"].startswith("TaskFailedToStart: ")
        assert all("exitCode" not in c for c in stopped["containers"])
        waited = (stopped["stoppedAt"] - stopped["createdAt"]).total_seconds()
        assert waited >= TIMINGS.provisioning_timeout_s / TIME_SCALE * 0.9
        assert "startedAt" not in stopped
        group = client(aws, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[provider])
        assert group["AutoScalingGroups"][0]["Instances"] == []

    def test_raising_max_size_lets_a_waiting_task_scale_out(self, aws, ecs):
        provider = create_ec2_capacity(aws, "odm-later", max_size=0, instance_types=["r5.xlarge"])
        aws.set_timings(replace(TIMINGS, provisioning_timeout_s=1800.0))
        try:
            task = run_job(aws, provider)

            client(aws, "autoscaling").update_auto_scaling_group(AutoScalingGroupName=provider, MaxSize=1)

            assert wait_status(ecs, task["taskArn"], "STOPPED")["stopCode"] == "EssentialContainerExited"
        finally:
            aws.set_timings(TIMINGS)

    def test_a_capacity_provider_not_attached_to_the_cluster_is_refused(self, aws, ecs):
        with pytest.raises(ClientError) as refused:
            run_job(aws, "FARGATE")

        assert refused.value.response["Error"]["Code"] == "InvalidParameterException"

    def test_a_provider_with_a_waiting_task_cannot_be_removed_from_the_cluster_until_the_task_stops(
        self, aws, ecs
    ):
        provider = create_ec2_capacity(aws, "odm-busy", max_size=0, instance_types=["r5.xlarge"])
        task = run_job(aws, provider)
        others = list(ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]["capacityProviders"])
        others.remove(provider)

        with pytest.raises(ClientError) as refused:
            ecs.put_cluster_capacity_providers(
                cluster=CLUSTER, capacityProviders=others, defaultCapacityProviderStrategy=[]
            )

        assert refused.value.response["Error"]["Code"] == "ResourceInUseException"
        ecs.stop_task(cluster=CLUSTER, task=task["taskArn"])
        ecs.put_cluster_capacity_providers(
            cluster=CLUSTER, capacityProviders=others, defaultCapacityProviderStrategy=[]
        )
        assert provider not in ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]["capacityProviders"]


class TestStopping:
    def test_a_spot_interruption_stops_the_running_task_with_spot_interruption(self, aws, ecs, slow_odm):
        attach_fargate(aws)
        task = run_job(aws, "FARGATE_SPOT", name="spotty")
        wait_for(
            lambda: (
                containers_by_name(describe(ecs, task["taskArn"]))[contract.ODM]["lastStatus"] == "RUNNING"
            )
        )

        assert aws.interrupt_job("mapping", "spotty") == task["taskArn"]

        stopped = wait_status(ecs, task["taskArn"], "STOPPED")
        assert stopped["stopCode"] == "SpotInterruption"
        assert stopped["stoppedReason"] == "Your Spot Task was interrupted."
        containers = containers_by_name(stopped)
        assert containers[contract.ODM]["exitCode"] == 143
        assert "exitCode" not in containers[contract.STAGE_OUT]

    def test_stop_task_is_honoured_as_user_initiated_with_the_given_reason(self, aws, ecs, slow_odm):
        attach_fargate(aws)
        task = run_job(aws, "FARGATE")
        wait_for(
            lambda: (
                containers_by_name(describe(ecs, task["taskArn"]))[contract.ODM]["lastStatus"] == "RUNNING"
            )
        )

        answer = ecs.stop_task(cluster=CLUSTER, task=task["taskArn"], reason="ODMJob mapping/job was deleted")

        assert answer["task"]["desiredStatus"] == "STOPPED"
        assert answer["task"]["lastStatus"] != "STOPPED"
        stopped = wait_status(ecs, task["taskArn"], "STOPPED")
        assert stopped["stopCode"] == "UserInitiated"
        assert stopped["stoppedReason"] == "ODMJob mapping/job was deleted"
        assert containers_by_name(stopped)[contract.ODM]["exitCode"] == 143
        assert stopped.get("tags", []) == []

    def test_stop_task_on_a_provisioning_task_stops_it_at_once(self, aws, ecs):
        provider = create_ec2_capacity(aws, "odm-none", max_size=0, instance_types=["r5.xlarge"])
        task = run_job(aws, provider)

        ecs.stop_task(cluster=CLUSTER, task=task["taskArn"])

        stopped = describe(ecs, task["taskArn"])
        assert stopped["lastStatus"] == "STOPPED"
        assert stopped["stopCode"] == "UserInitiated"

    def test_stop_task_of_an_unknown_task_is_an_invalid_parameter(self, aws, ecs):
        with pytest.raises(ClientError) as refused:
            ecs.stop_task(cluster=CLUSTER, task="0123456789abcdef0123456789abcdef")

        assert refused.value.response["Error"]["Code"] == "InvalidParameterException"


class TestFargate:
    def test_a_fargate_task_runs_without_container_instances(self, aws, ecs):
        attach_fargate(aws)
        task = run_job(aws, "FARGATE")
        assert task["lastStatus"] == "PROVISIONING"

        stopped = wait_status(ecs, task["taskArn"], "STOPPED")

        assert stopped["launchType"] == "FARGATE"
        assert stopped["capacityProviderName"] == "FARGATE"
        assert stopped["platformVersion"] == "1.4.0"
        assert "containerInstanceArn" not in stopped
        assert all(c["exitCode"] == 0 for c in stopped["containers"])
        assert ecs.list_container_instances(cluster=CLUSTER)["containerInstanceArns"] == []


class TestEcsAnswers:
    def test_describe_tasks_reports_unknown_tasks_as_missing(self, aws, ecs):
        attach_fargate(aws)
        task = run_job(aws, "FARGATE")
        unknown = task["taskArn"].rsplit("/", 1)[0] + "/ffffffffffffffffffffffffffffffff"

        answer = ecs.describe_tasks(cluster=CLUSTER, tasks=[task["taskArn"], unknown])

        assert [t["taskArn"] for t in answer["tasks"]] == [task["taskArn"]]
        assert answer["failures"] == [{"arn": unknown, "reason": "MISSING"}]

    def test_list_tasks_shows_running_tasks_by_default_and_pages(self, aws, ecs):
        attach_fargate(aws)
        task_definition = register_odm_task_definition(ecs, aws.region)
        arns = [
            run_job(aws, "FARGATE", task_definition=task_definition, name=f"j{i}")["taskArn"]
            for i in range(7)
        ]
        ecs.stop_task(cluster=CLUSTER, task=arns[0])

        pages = list(
            ecs.get_paginator("list_tasks").paginate(cluster=CLUSTER, PaginationConfig={"PageSize": 3})
        )

        assert [len(p["taskArns"]) for p in pages] == [3, 3]
        assert sorted(a for p in pages for a in p["taskArns"]) == sorted(arns[1:])
        assert ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"] == [arns[0]]

    def test_run_task_with_a_known_client_token_returns_the_original_task(self, aws, ecs):
        attach_fargate(aws)
        task_definition = register_odm_task_definition(ecs, aws.region)

        def run(token: str, started_by: str = "odm/uid-1") -> dict[str, Any]:
            return ecs.run_task(
                cluster=CLUSTER,
                taskDefinition=task_definition,
                capacityProviderStrategy=[{"capacityProvider": "FARGATE"}],
                networkConfiguration=network(client(aws, "ec2")),
                startedBy=started_by,
                clientToken=token,
                overrides=job_overrides(SMALL, f"s3://{OUTPUT_BUCKET}/job/", []),
            )

        first = run("uid-1-attempt-1")["tasks"][0]["taskArn"]

        assert run("uid-1-attempt-1")["tasks"][0]["taskArn"] == first
        assert run("uid-1-attempt-2")["tasks"][0]["taskArn"] != first
        with pytest.raises(ClientError) as conflict:
            run("uid-1-attempt-1", started_by="odm/someone-else")
        assert conflict.value.response["Error"]["Code"] == "ConflictException"
        assert len(ecs.list_tasks(cluster=CLUSTER)["taskArns"]) == 2
