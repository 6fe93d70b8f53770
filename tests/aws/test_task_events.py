"""The event gateway (aws/events.py) against the sandbox: ECS's task state changes reach the operator's queue
through moto's EventBridge, only by the operator's rule, only under its queue policy, and with rising versions."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from odm_operator import contract
from odm_operator.aws.events import TaskEventsGateway
from odm_operator.plan.task_events import cluster_arn, decode
from odm_sandbox.aws import AwsSandbox

CLUSTER = "odm"
RULE = "odm-operator-task-state"
QUEUE = "odm-operator-task-state"


def run_generic_task(client: Any, started_by: str) -> str:
    """A one-container Fargate task (the agent runs it to a clean exit): its ARN."""
    ecs, ec2 = client("ecs"), client("ec2")
    ecs.create_cluster(clusterName=CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT"])
    family = ecs.register_task_definition(
        family="odm-events-test",
        containerDefinitions=[{"name": "main", "image": "busybox", "essential": True, "memory": 512}],
        cpu="256",
        memory="512",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
    )["taskDefinition"]["taskDefinitionArn"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
    answer = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=family,
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
        startedBy=started_by,
        tags=[{"key": contract.TAG_MANAGED_BY, "value": contract.MANAGED_BY_VALUE}],
    )
    assert answer["failures"] == []
    return answer["tasks"][0]["taskArn"]


def ensure(gateway: TaskEventsGateway) -> str:
    url, arn = gateway.ensure_queue(QUEUE)
    gateway.ensure_rule(RULE, [cluster_arn(arn, CLUSTER)], contract.STARTED_BY_PREFIX, url, arn)
    return url


def drain(gateway: TaskEventsGateway, url: str, until: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Receive (and delete) events until ``until(details)`` holds."""
    details: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not until(details):
        assert time.monotonic() < deadline, (
            f"events so far: {[(d['lastStatus'], d['version']) for d in details]}"
        )
        messages = gateway.receive(url)
        details += [decode(m["Body"]) for m in messages]
        assert gateway.delete(url, messages) == []
    return details


def stopped(details: list[dict[str, Any]]) -> bool:
    return any(d["lastStatus"] == "STOPPED" for d in details)


@pytest.fixture
def gateway(client: Any) -> TaskEventsGateway:
    return TaskEventsGateway(
        client("events"), client("sqs"), {contract.TAG_MANAGED_BY: contract.MANAGED_BY_VALUE}
    )


def test_every_change_of_a_task_arrives_once_in_order_with_rising_versions_and_without_tags(client, gateway):
    url = ensure(gateway)
    arn = run_generic_task(client, contract.started_by("uid-1"))
    details = drain(gateway, url, stopped)
    versions = [d["version"] for d in details]
    assert versions == sorted(versions) and len(set(versions)) == len(versions), versions
    assert [d["lastStatus"] for d in details][0] in ("PENDING", "PROVISIONING")
    assert {d["taskArn"] for d in details} == {arn}
    assert all("tags" not in d and d["clusterArn"].endswith(f":cluster/{CLUSTER}") for d in details)
    final = client("ecs").describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    assert details[-1]["version"] == final["version"]
    assert details[-1]["containers"][0]["exitCode"] == final["containers"][0]["exitCode"] == 0
    assert details[-1]["stoppedAt"].endswith("Z")  # ISO 8601, as ECS's events carry timestamps


def test_tasks_someone_else_started_do_not_reach_the_queue(client, gateway):
    url = ensure(gateway)
    run_generic_task(client, "ecs-svc/someone-else")
    ours = run_generic_task(client, contract.started_by("uid-2"))
    details = drain(gateway, url, stopped)
    assert {d["taskArn"] for d in details} == {ours}


def test_a_queue_whose_policy_names_another_rule_receives_nothing(aws: AwsSandbox, client, gateway):
    url = ensure(gateway)
    queue_arn = gateway.queue_arn(url)
    other = queue_arn.replace(":sqs:", ":events:").rsplit(":", 1)[0] + ":rule/someone-elses-rule"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": other}},
            }
        ],
    }
    client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    arn = run_generic_task(client, contract.started_by("uid-3"))
    ecs = client("ecs")
    deadline = time.monotonic() + 20
    while ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]["lastStatus"] != "STOPPED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    answer = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    assert answer.get("Messages", []) == []
    assert aws.event_status()["refusedDeliveries"], "the sandbox recorded no refused delivery"


def test_a_long_poll_waits_for_an_event_without_holding_up_other_calls(client, gateway):
    url = ensure(gateway)
    got: list[list[dict[str, Any]]] = []
    receiver = threading.Thread(target=lambda: got.append(gateway.receive(url)))
    started = time.monotonic()
    receiver.start()
    client("ecs").list_clusters()  # answered while the long poll waits
    assert time.monotonic() - started < 5
    run_generic_task(client, contract.started_by("uid-4"))
    receiver.join(timeout=25)
    assert got and got[0], "the long poll returned without the task's first event"
    assert time.monotonic() - started < 15, "the long poll did not return as the event arrived"


@pytest.mark.parametrize(
    ("faults", "expect"),
    [
        pytest.param({"duplicate": 1.0}, "twice", id="duplicate-delivers-every-event-twice"),
        pytest.param({"drop": 1.0}, "none", id="drop-delivers-nothing"),
        pytest.param({"reorder": 1.0}, "out-of-order", id="reorder-delivers-an-older-event-after-a-newer"),
    ],
)
def test_event_faults_lose_repeat_and_reorder_events(aws: AwsSandbox, client, gateway, faults, expect):
    url = ensure(gateway)
    aws.task_events.set_faults(type(aws.task_events.faults)(**faults), seed=1)
    arn = run_generic_task(client, contract.started_by("uid-5"))
    ecs = client("ecs")
    deadline = time.monotonic() + 20
    while ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]["lastStatus"] != "STOPPED":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    published = aws.event_status()["counts"]["published"]
    if expect == "none":
        answer = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        assert answer.get("Messages", []) == [] and aws.event_status()["counts"]["dropped"] == published
        return
    wanted = 2 * published if expect == "twice" else published
    details = drain(gateway, url, lambda d: len(d) >= wanted)
    versions = [d["version"] for d in details]
    if expect == "twice":
        assert sorted(versions) == sorted(v for v in set(versions) for _ in range(2))
    else:
        assert sorted(set(versions)) == sorted(versions) and versions != sorted(versions), versions
