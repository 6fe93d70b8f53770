"""ECS's token buckets in the sandbox: the table, the arithmetic (fake clock) and the burst over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from aws_fixtures import CLUSTER, NO_RETRIES, client
from botocore.exceptions import ClientError

from odm_sandbox.aws import AwsSandbox
from odm_sandbox.aws.throttle import BucketSpec, EcsThrottle, TokenBucket, ecs_category


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("reason", "spec", "calls", "expected"),
    [
        ("a full bucket grants its burst, then refuses", BucketSpec(3, 1), [0, 0, 0, 0], "TTTF"),
        ("tokens come back at the sustained rate", BucketSpec(1, 1), [0, 0.5, 1.0], "TFT"),
        ("refill never exceeds the burst", BucketSpec(2, 10), [0, 0, 0, 10, 10, 10], "TTFTTF"),
        ("RunTask's bucket refills one token per 25 ms", BucketSpec(100, 40), [0] * 100 + [0.025, 0.025], "T" * 101 + "F"),
        ("task definition writes refill one per second", BucketSpec(20, 1), [0] * 21 + [0.999, 1.0], "T" * 20 + "FFT"),
        ("a clock going backwards adds nothing", BucketSpec(1, 1), [5, 4, 4.5], "TFF"),
    ],
)  # fmt: skip
def test_token_bucket_grants_and_refuses_as_ecs_does(reason, spec, calls, expected):
    clock = FakeClock()
    bucket = TokenBucket(spec, clock)
    granted = ""
    for at in calls:
        clock.now = at
        granted += "T" if bucket.try_take() else "F"
    assert granted == expected, reason


@pytest.mark.parametrize(
    ("action", "category"),
    [
        ("RunTask", "task-launch"),
        ("StartTask", "task-launch"),
        ("StopTask", "task-launch"),
        ("DescribeTasks", "task-read"),
        ("ListTasks", "task-read"),
        ("DescribeContainerInstances", "task-read"),
        ("RegisterTaskDefinition", "task-definition-write"),
        ("DeregisterTaskDefinition", "task-definition-write"),
        ("DeleteTaskDefinitions", "task-definition-delete"),
        ("DescribeTaskDefinition", "task-definition-read"),
        ("ListTaskDefinitions", "task-definition-read"),
        ("ListClusters", "task-definition-read"),
        ("CreateCapacityProvider", "capacity-provider-write"),
        ("UpdateCapacityProvider", "capacity-provider-write"),
        ("DescribeCapacityProviders", "capacity-provider-read"),
        ("PutClusterCapacityProviders", "cluster-write"),
        ("CreateCluster", "cluster-write"),
        ("TagResource", "tagging"),
        ("UntagResource", "tagging"),
        ("DescribeClusters", None),
    ],
)
def test_each_ecs_action_draws_from_its_category_bucket(action, category):
    assert ecs_category(action) == category


def test_actions_of_one_category_share_a_bucket_and_other_categories_are_unaffected():
    clock = FakeClock()
    throttle = EcsThrottle(clock=clock)
    assert all(throttle.allow("RunTask", "us-east-1") for _ in range(100))

    assert not throttle.allow("StopTask", "us-east-1")
    assert throttle.allow("DescribeTasks", "us-east-1")
    assert throttle.allow("RunTask", "eu-west-1")


def test_a_disabled_throttle_lets_everything_through():
    throttle = EcsThrottle(enabled=False, clock=FakeClock())

    assert all(throttle.allow("RegisterTaskDefinition") for _ in range(1000))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AwsSandbox]:
    with AwsSandbox(time_scale=60, seed_data=False).start() as aws:
        yield aws


def test_150_run_task_calls_in_a_second_are_throttled_past_the_burst_of_100(sandbox):
    sandbox.reset()
    ecs = client(sandbox, "ecs", NO_RETRIES)
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.put_cluster_capacity_providers(
        cluster=CLUSTER, capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=[]
    )
    task_definition = ecs.register_task_definition(
        family="tiny",
        containerDefinitions=[{"name": "main", "image": "busybox", "memory": 128, "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]

    def run_task(_: int) -> str:
        try:
            ecs.run_task(cluster=CLUSTER, taskDefinition=task_definition, launchType="FARGATE")
            return "ok"
        except ClientError as error:
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            assert error.response["Error"]["Message"] == "Rate exceeded"
            return error.response["Error"]["Code"]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(run_task, range(150)))
    elapsed = time.monotonic() - started

    accepted = outcomes.count("ok")
    throttled = outcomes.count("ThrottlingException")
    assert accepted + throttled == 150
    assert 100 <= accepted <= 100 + 40 * elapsed + 1, f"{accepted} accepted in {elapsed:.2f} s"
    assert throttled > 0
    assert sandbox.counters.calls("ecs:RunTask") == 150
    assert sandbox.counters.throttled("ecs:RunTask") == throttled
