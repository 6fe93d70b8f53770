"""The sandbox's HTTP surface: call counts, faults in each protocol, control API, reset, shutdown."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aws_fixtures import (
    CLUSTER,
    NO_RETRIES,
    client,
    describe,
    job_overrides,
    job_tags,
    network,
    register_odm_task_definition,
    wait_for,
    wait_status,
)
from botocore.exceptions import ClientError

from odm_operator import contract
from odm_sandbox.aws import AwsSandbox, Timings
from odm_sandbox.aws.datasets import DATASETS, INPUT_BUCKET, OUTPUT_BUCKET
from odm_sandbox.aws.faults import FaultInjector, FaultRule
from odm_sandbox.aws.operations import identify


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AwsSandbox]:
    with AwsSandbox(time_scale=1200).start() as aws:
        yield aws


@pytest.fixture
def aws(sandbox: AwsSandbox) -> AwsSandbox:
    sandbox.reset()
    return sandbox


def control(aws: AwsSandbox, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(aws.control_url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def environ(method: str, path: str, service: str, query: str = "", body: bytes = b"", **headers: str) -> dict:
    auth = (
        f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host"
    )
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-www-form-urlencoded" if body else "",
        "HTTP_AUTHORIZATION": auth,
        "wsgi.input": io.BytesIO(body),
    }
    env.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return env


class TestOperationNames:
    @pytest.mark.parametrize(
        ("request_environ", "expected"),
        [
            (environ("POST", "/", "ecs", x_amz_target="AmazonEC2ContainerServiceV20141113.RunTask"), "ecs:RunTask"),
            (environ("POST", "/", "logs", x_amz_target="Logs_20140328.GetLogEvents"), "logs:GetLogEvents"),
            (environ("POST", "/", "ssm", x_amz_target="AmazonSSM.GetParameter"), "ssm:GetParameter"),
            (environ("POST", "/", "ec2", body=b"Action=DescribeSubnets&Version=2016-11-15"), "ec2:DescribeSubnets"),
            (environ("GET", "/", "iam", query="Action=GetRole&RoleName=x"), "iam:GetRole"),
            (environ("GET", "/", "s3"), "s3:ListBuckets"),
            (environ("GET", "/bucket", "s3", query="list-type=2&prefix=a%2F"), "s3:ListObjectsV2"),
            (environ("GET", "/bucket", "s3", query="prefix=a"), "s3:ListObjects"),
            (environ("PUT", "/bucket", "s3"), "s3:CreateBucket"),
            (environ("GET", "/bucket", "s3", query="location"), "s3:GetBucketLocation"),
            (environ("PUT", "/bucket/a/b.tif", "s3"), "s3:PutObject"),
            (environ("PUT", "/bucket/a/b.tif", "s3", x_amz_copy_source="/other/k"), "s3:CopyObject"),
            (environ("PUT", "/bucket/k", "s3", query="partNumber=1&uploadId=u"), "s3:UploadPart"),
            (environ("POST", "/bucket/k", "s3", query="uploads"), "s3:CreateMultipartUpload"),
            (environ("GET", "/bucket/a/b.tif", "s3"), "s3:GetObject"),
            (environ("HEAD", "/bucket/a/b.tif", "s3"), "s3:HeadObject"),
            (environ("POST", "/bucket", "s3", query="delete"), "s3:DeleteObjects"),
        ],
    )  # fmt: skip
    def test_each_request_is_named_service_colon_operation(self, request_environ, expected):
        assert identify(request_environ).key == expected

    def test_a_query_body_read_for_naming_is_still_there_for_moto(self):
        body = b"Action=DescribeSubnets&Version=2016-11-15"
        request_environ = environ("POST", "/", "ec2", body=body)

        identify(request_environ)

        assert request_environ["wsgi.input"].read() == body

    def test_every_call_is_counted_by_operation(self, aws):
        s3 = client(aws, "s3")
        s3.list_objects_v2(Bucket=INPUT_BUCKET, Prefix="small/")
        s3.put_object(Bucket=OUTPUT_BUCKET, Key="x/y.txt", Body=b"hi")
        s3.get_object(Bucket=OUTPUT_BUCKET, Key="x/y.txt")
        client(aws, "ec2").describe_subnets()
        client(aws, "ecs").list_clusters()
        client(aws, "autoscaling").describe_auto_scaling_groups()

        status, calls = control(aws, "GET", "/calls")

        assert status == 200
        assert calls["calls"] == {
            "s3:ListObjectsV2": 1,
            "s3:PutObject": 1,
            "s3:GetObject": 1,
            "ec2:DescribeSubnets": 1,
            "ecs:ListClusters": 1,
            "autoscaling:DescribeAutoScalingGroups": 1,
        }
        assert calls["total"] == 6
        assert calls["throttled"] == {}


class TestFaults:
    @pytest.mark.parametrize(
        ("service", "operation", "call", "code", "status"),
        [
            ("ecs", "ecs:ListClusters", lambda c: c.list_clusters(), "ServerException", 500),
            ("logs", "logs:DescribeLogGroups", lambda c: c.describe_log_groups(), "ServiceUnavailableException", 503),
            ("ssm", "ssm:GetParameter", lambda c: c.get_parameter(Name="/x"), "InternalServerError", 500),
            ("ec2", "ec2:DescribeSubnets", lambda c: c.describe_subnets(), "RequestLimitExceeded", 503),
            ("autoscaling", "autoscaling:DescribeAutoScalingGroups",
             lambda c: c.describe_auto_scaling_groups(), "Throttling", 400),
            ("iam", "iam:GetRole", lambda c: c.get_role(RoleName="r"), "ServiceFailure", 500),
            ("s3", "s3:ListObjectsV2", lambda c: c.list_objects_v2(Bucket=INPUT_BUCKET), "SlowDown", 503),
        ],
    )  # fmt: skip
    def test_an_injected_fault_reaches_botocore_as_that_services_real_error(
        self, aws, service, operation, call, code, status
    ):
        aws.faults.set_rules([FaultRule(operation, code=code, status=status, message="injected")])

        with pytest.raises(ClientError) as failed:
            call(client(aws, service, NO_RETRIES))

        assert failed.value.response["Error"]["Code"] == code
        assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert aws.counters.snapshot()["faults"] == {operation: 1}

    def test_a_counted_rule_answers_the_next_calls_then_retires(self, aws):
        ecs = client(aws, "ecs", NO_RETRIES)
        status, _ = control(
            aws, "POST", "/faults", {"rules": [{"operation": "ecs:ListClusters", "count": 2}]}
        )
        assert status == 200

        outcomes = []
        for _ in range(3):
            try:
                ecs.list_clusters()
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(error.response["Error"]["Code"])

        assert outcomes == ["InternalFailure", "InternalFailure", "ok"]
        assert control(aws, "GET", "/faults") == (200, {"rules": []})

    def test_botocore_retries_an_injected_5xx_and_succeeds(self, aws):
        aws.faults.set_rules([FaultRule("ecs:ListClusters", code="ServerException", count=2)])

        client(aws, "ecs").list_clusters()

        assert aws.counters.calls("ecs:ListClusters") == 3

    def test_a_wildcard_rule_matches_every_call_of_a_service(self):
        rule = FaultRule("ecs:*")

        assert rule.matches("ecs:RunTask")
        assert not rule.matches("ec2:RunInstances")

    def test_probabilistic_faults_repeat_with_the_same_seed(self):
        def draws(seed: int) -> list[bool]:
            injector = FaultInjector(seed)
            injector.set_rules([FaultRule("*", probability=0.3)])
            return [injector.pick("ecs:DescribeTasks") is not None for _ in range(200)]

        assert draws(7) == draws(7)
        assert draws(7) != draws(8)
        assert 30 < sum(draws(7)) < 90

    def test_a_malformed_rule_is_refused_by_the_control_api(self, aws):
        status, answer = control(aws, "POST", "/faults", {"rules": [{"operation": "*", "colour": "red"}]})

        assert status == 400
        assert "colour" in answer["error"]


class TestControlApi:
    def test_health_answers_ok(self, aws):
        assert control(aws, "GET", "/health") == (200, {"ok": True})

    def test_interrupt_finds_the_running_task_of_an_odm_job_by_its_tags(self, aws):
        ecs = client(aws, "ecs")
        ecs.create_cluster(clusterName=CLUSTER)
        ecs.put_cluster_capacity_providers(
            cluster=CLUSTER, capacityProviders=["FARGATE_SPOT"], defaultCapacityProviderStrategy=[]
        )
        task = ecs.run_task(
            cluster=CLUSTER,
            taskDefinition=register_odm_task_definition(ecs, aws.region),
            capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT"}],
            networkConfiguration=network(client(aws, "ec2")),
            tags=job_tags("mapping", "farm"),
            overrides=job_overrides(f"s3://{INPUT_BUCKET}/small/", f"s3://{OUTPUT_BUCKET}/farm/", []),
        )["tasks"][0]
        wait_status(ecs, task["taskArn"], "RUNNING")

        status, answer = control(aws, "POST", "/interrupt", {"namespace": "mapping", "name": "farm"})

        assert status == 200
        assert answer == {"taskArn": task["taskArn"], "interrupted": True}
        assert wait_status(ecs, task["taskArn"], "STOPPED")["stopCode"] == "SpotInterruption"
        assert control(aws, "POST", "/interrupt", {"taskArn": task["taskArn"]})[0] == 404

    def test_interrupting_a_job_without_a_task_is_not_found(self, aws):
        status, answer = control(aws, "POST", "/interrupt", {"namespace": "mapping", "name": "nothing"})

        assert status == 404
        assert "mapping/nothing" in answer["error"]

    def test_agent_status_reports_activity_and_no_errors(self, aws):
        status, answer = control(aws, "GET", "/agent")

        assert status == 200
        assert answer["activeTasks"] == 0
        assert answer["errors"] == []


class TestReset:
    @pytest.mark.parametrize("how", ["control api", "moto api"])
    def test_reset_forgets_everything_but_the_seeded_data(self, aws, how):
        ecs = client(aws, "ecs")
        ecs.create_cluster(clusterName="scratch")
        client(aws, "s3").put_object(Bucket=OUTPUT_BUCKET, Key="old/log.json", Body=b"{}")

        if how == "control api":
            assert control(aws, "POST", "/reset")[0] == 200
        else:
            urllib.request.urlopen(
                urllib.request.Request(aws.endpoint_url + "/moto-api/reset", method="POST")
            )

        assert ecs.list_clusters()["clusterArns"] == []
        s3 = client(aws, "s3")
        assert s3.list_objects_v2(Bucket=OUTPUT_BUCKET).get("KeyCount") == 0
        small = s3.list_objects_v2(Bucket=INPUT_BUCKET, Prefix="small/", MaxKeys=1000)["KeyCount"]
        assert small == DATASETS["small"] + 1  # the images and gcp_list.txt
        assert aws.counters.snapshot()["calls"] == {"ecs:ListClusters": 1, "s3:ListObjectsV2": 2}


class TestEcsValidation:
    def test_describe_tasks_refuses_more_than_100_tasks(self, aws):
        ecs = client(aws, "ecs")
        ecs.create_cluster(clusterName=CLUSTER)

        with pytest.raises(ClientError) as refused:
            ecs.describe_tasks(cluster=CLUSTER, tasks=[f"{i:032x}" for i in range(101)])

        assert refused.value.response["Error"]["Code"] == "InvalidParameterException"

    def test_run_task_refuses_more_than_10_tasks(self, aws):
        ecs = client(aws, "ecs")
        ecs.create_cluster(clusterName=CLUSTER)
        ecs.put_cluster_capacity_providers(
            cluster=CLUSTER, capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=[]
        )

        with pytest.raises(ClientError) as refused:
            ecs.run_task(
                cluster=CLUSTER,
                taskDefinition=register_odm_task_definition(ecs, aws.region),
                capacityProviderStrategy=[{"capacityProvider": "FARGATE"}],
                networkConfiguration=network(client(aws, "ec2")),
                count=11,
            )

        assert refused.value.response["Error"]["Code"] == "InvalidParameterException"

    def test_stopped_tasks_are_forgotten_after_the_retention_period(self, aws):
        aws.set_timings(Timings(stopped_retention_s=600))
        try:
            ecs = client(aws, "ecs")
            ecs.create_cluster(clusterName=CLUSTER)
            task_definition = ecs.register_task_definition(
                family="tiny", containerDefinitions=[{"name": "main", "image": "busybox", "memory": 128}]
            )["taskDefinition"]["taskDefinitionArn"]
            arn = ecs.run_task(cluster=CLUSTER, taskDefinition=task_definition, launchType="FARGATE")[
                "tasks"
            ][0]["taskArn"]

            gone = wait_for(lambda: ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["failures"])

            assert gone == [{"arn": arn, "reason": "MISSING"}]
        finally:
            aws.set_timings(Timings())


def test_stopping_the_sandbox_leaves_no_threads_behind():
    before = set(threading.enumerate())
    aws = AwsSandbox(time_scale=1200, seed_data=False).start()
    ecs = client(aws, "ecs")  # keeps its connection alive, as the operator's client does
    ecs.list_clusters()
    status, _ = control(aws, "GET", "/health")
    assert status == 200

    aws.stop()

    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == []


def test_env_points_an_sdk_at_the_sandbox(sandbox):
    env = sandbox.env()

    assert env["AWS_ENDPOINT_URL"] == sandbox.endpoint_url
    assert env["AWS_DEFAULT_REGION"] == env["AWS_REGION"] == sandbox.region
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"


def test_describing_an_odm_task_shows_its_three_containers_before_it_runs(sandbox):
    sandbox.reset()
    ecs = client(sandbox, "ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.put_cluster_capacity_providers(
        cluster=CLUSTER, capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=[]
    )
    task = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=register_odm_task_definition(ecs, sandbox.region),
        capacityProviderStrategy=[{"capacityProvider": "FARGATE"}],
        networkConfiguration=network(client(sandbox, "ec2")),
        overrides=job_overrides(f"s3://{INPUT_BUCKET}/small/", f"s3://{OUTPUT_BUCKET}/x/", []),
    )["tasks"][0]

    described = describe(ecs, task["taskArn"])

    assert [(c["name"], c["lastStatus"]) for c in described["containers"]] == [
        (name, "PENDING") for name in contract.CONTAINERS
    ]
    assert described["desiredStatus"] == "RUNNING"
    assert described["version"] == 1


@pytest.mark.parametrize("include", [[], ["TAGS"]])
def test_the_fast_describe_tasks_answer_equals_motos_own(sandbox, monkeypatch, include):
    from odm_sandbox.aws import ecs_responses
    from odm_sandbox.aws.datasets import INPUT_BUCKET

    sandbox.reset()
    ecs = client(sandbox, "ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.put_cluster_capacity_providers(
        cluster=CLUSTER, capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=[]
    )
    task_definition = register_odm_task_definition(ecs, sandbox.region)
    arns = [
        ecs.run_task(
            cluster=CLUSTER,
            taskDefinition=task_definition,
            capacityProviderStrategy=[{"capacityProvider": "FARGATE"}],
            networkConfiguration=network(client(sandbox, "ec2")),
            tags=job_tags("mapping", f"j{i}"),
            overrides=job_overrides(
                f"s3://{INPUT_BUCKET}/{prefix}/", f"s3://{OUTPUT_BUCKET}/j{i}/", ["--dsm"]
            ),
        )["tasks"][0]["taskArn"]
        for i, prefix in enumerate(["small", "empty"])
    ]
    for arn in arns:
        wait_status(ecs, arn, "STOPPED")

    fast = ecs.describe_tasks(cluster=CLUSTER, tasks=arns, include=include)
    monkeypatch.setattr(ecs_responses, "describe_tasks", lambda backend, body: None)
    slow = ecs.describe_tasks(cluster=CLUSTER, tasks=arns, include=include)

    assert fast["tasks"] == slow["tasks"]
