"""A thousand concurrent ODM tasks: the simulated agent keeps up without burning a core."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from aws_fixtures import CLUSTER, client, job_overrides, network, register_odm_task_definition, wait_for

from odm_sandbox.aws import AwsSandbox
from odm_sandbox.aws.datasets import INPUT_BUCKET, OUTPUT_BUCKET

TASKS = 1000
# At 60x a 30-image job runs ODM for ~11 real seconds: long enough to measure a steady state.
TIME_SCALE = 60.0
# Share of one core the agent may use with a thousand tasks running (measured: 5-10%).
MAX_BUSY_FRACTION = 0.5


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AwsSandbox]:
    with AwsSandbox(time_scale=TIME_SCALE, quotas=False).start() as aws:
        yield aws
        aws.reset()


def test_a_thousand_running_tasks_cost_the_agent_a_fraction_of_a_core(sandbox):
    sandbox.reset()
    ecs = client(sandbox, "ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.put_cluster_capacity_providers(
        cluster=CLUSTER, capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=[]
    )
    task_definition = register_odm_task_definition(ecs, sandbox.region)
    vpc = network(client(sandbox, "ec2"))

    def run_ten(batch: int) -> int:
        return len(
            ecs.run_task(
                cluster=CLUSTER,
                taskDefinition=task_definition,
                count=10,
                capacityProviderStrategy=[{"capacityProvider": "FARGATE"}],
                networkConfiguration=vpc,
                overrides=job_overrides(f"s3://{INPUT_BUCKET}/small/", f"s3://{OUTPUT_BUCKET}/b{batch}/", []),
            )["tasks"]
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sum(pool.map(run_ten, range(TASKS // 10))) == TASKS
    arns = [a for page in ecs.get_paginator("list_tasks").paginate(cluster=CLUSTER) for a in page["taskArns"]]
    assert len(arns) == TASKS

    def all_running_odm() -> bool:  # past stage-in: the steady state of a long job
        sample = ecs.describe_tasks(cluster=CLUSTER, tasks=arns[:50] + arns[-50:])["tasks"]
        return all(
            c["lastStatus"] == "RUNNING" for t in sample for c in t["containers"] if c["name"] == "odm"
        )

    wait_for(all_running_odm, timeout_s=30)
    busy, started = sandbox.agent.busy_s, time.monotonic()
    wait_for(lambda: time.monotonic() - started >= 1.0, interval_s=0.05)
    with sandbox.lock:
        fraction = (sandbox.agent.busy_s - busy) / (time.monotonic() - started)
        active = sandbox.agent.active_tasks

    assert active == TASKS
    assert fraction < MAX_BUSY_FRACTION, f"agent busy {fraction:.0%} of a core"
    started = time.monotonic()
    described = ecs.describe_tasks(cluster=CLUSTER, tasks=arns[:100])["tasks"]
    assert len(described) == 100
    assert time.monotonic() - started < 1.0
    assert sandbox.agent.errors == []
