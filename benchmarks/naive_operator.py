"""A deliberately naive ODMJob operator, written the way most kopf examples are: the baseline of scale.py.

What makes it naive (and typical):
- ``@kopf.on.create`` calls RunTask at once, with no client-side pacing: a burst of jobs is a burst of RunTasks,
  and ECS's token bucket answers ThrottlingException to whatever botocore's default retries do not absorb (kopf
  then retries the handler after its default backoff). ``clientToken`` is still set (job uid + attempt 1), so a
  retried handler does not start a second task.
- a per-job ``@kopf.timer`` that calls DescribeTasks for its own task every poll interval (one call per job per
  interval instead of one per 100 tasks), and writes status through kopf's ``patch`` on every tick, changed or not.
- the default boto3 client (legacy retry mode) and kopf's default settings.

It renders the task definition and the RunTask request with the operator's pure planner (plan/desired.py), so
the ECS work is the same as ours: only the control loop differs. It reads its settings from the same
``ODM_OPERATOR_*`` environment and reaches the sandbox through ``KUBECONFIG`` and ``AWS_ENDPOINT_URL``.

    python benchmarks/naive_operator.py [--namespace NS]...
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import threading
from typing import Any

import boto3
import kopf
from botocore.exceptions import ClientError

from odm_operator.api.validation import parse_spec
from odm_operator.plan.desired import JobRef, capacity, resolve_size, run_task, task_definition
from odm_operator.settings import Settings

RESOURCE = ("odm-operator.io", "v1alpha1", "odmjobs")
FINISHED = ("Succeeded", "Failed", "Cancelled")
SETTINGS = Settings()

ecs = boto3.client("ecs", region_name=SETTINGS.region)
ec2 = boto3.client("ec2", region_name=SETTINGS.region)
autoscaling = boto3.client("autoscaling", region_name=SETTINGS.region)
logs = boto3.client("logs", region_name=SETTINGS.region)

_task_definitions: dict[str, str] = {}  # family -> ARN (registered once per process)
_providers: set[str] = set()
_lock = threading.Lock()


@kopf.on.startup()
def startup(**_: Any) -> None:
    try:
        logs.create_log_group(logGroupName=SETTINGS.log_group)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    print("naive-operator-ready", flush=True)  # the benchmark waits for this line


@kopf.on.create(*RESOURCE)
def create(spec: kopf.Spec, meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
    job = parse_spec(copy.deepcopy(dict(spec)))
    size = resolve_size(job)
    cap = capacity(job, SETTINGS, size)
    if cap.kind == "managed":
        _ensure_capacity(cap.cluster, cap.provider, cap.requests)
    definition = _task_definition(task_definition(job, SETTINGS, size))
    ref = JobRef(meta["namespace"], meta["name"], meta["uid"])
    response = ecs.run_task(**run_task(job, SETTINGS, ref, 1, definition, cap))
    if not response.get("tasks"):
        raise kopf.TemporaryError(f"RunTask placed no task: {response.get('failures')}", delay=10)
    task = response["tasks"][0]
    patch.status["phase"] = "Starting"
    patch.status["aws"] = {
        "cluster": cap.cluster,
        "taskArn": task["taskArn"],
        "lastStatus": task["lastStatus"],
    }


def _unfinished(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in FINISHED


@kopf.timer(*RESOURCE, interval=SETTINGS.poll_interval_seconds, when=_unfinished)
def poll(status: kopf.Status, patch: kopf.Patch, **_: Any) -> None:
    aws = status.get("aws") or {}
    if not aws.get("taskArn"):
        return  # RunTask has not succeeded yet
    found = ecs.describe_tasks(cluster=aws["cluster"], tasks=[aws["taskArn"]])["tasks"]
    if not found:  # ECS forgets a stopped task after about an hour
        patch.status["phase"] = "Failed"
        patch.status["message"] = f"task {aws['taskArn']} not found"
        return
    task = found[0]
    last = task["lastStatus"]
    if last == "STOPPED":
        exits = [c.get("exitCode") for c in task.get("containers", [])]
        ok = bool(exits) and all(code == 0 for code in exits)
        phase = "Succeeded" if ok else "Failed"
    else:
        phase = "Running" if last == "RUNNING" else "Starting"
    # Written on every tick, as a typical example does: kopf sends the patch whether it changes anything or not.
    patch.status["phase"] = phase
    patch.status["aws"] = {"lastStatus": last}


def _task_definition(request: dict[str, Any]) -> str:
    with _lock:
        arn = _task_definitions.get(request["family"])
        if arn is None:
            arn = ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]
            _task_definitions[request["family"]] = arn
        return arn


def _ensure_capacity(cluster: str, name: str, requests: dict[str, Any]) -> None:
    """Launch template, Auto Scaling group and capacity provider, created once and attached to the cluster."""
    with _lock:
        if name in _providers:
            return
        _create(ec2.create_launch_template, **requests["launchTemplate"])
        _create(autoscaling.create_auto_scaling_group, **requests["autoScalingGroup"])
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        provider = copy.deepcopy(requests["capacityProvider"])
        provider["autoScalingGroupProvider"]["autoScalingGroupArn"] = group["AutoScalingGroupARN"]
        _create(ecs.create_capacity_provider, **provider)
        found = ecs.describe_clusters(clusters=[cluster])["clusters"][0]
        if name not in found.get("capacityProviders", []):
            ecs.put_cluster_capacity_providers(
                cluster=cluster,
                capacityProviders=[*found.get("capacityProviders", []), name],
                defaultCapacityProviderStrategy=found.get("defaultCapacityProviderStrategy", []),
            )
        _providers.add(name)


def _create(call: Any, **request: Any) -> None:
    """Create, or accept that it exists (the benchmark's first run may have made the same capacity)."""
    try:
        call(**request)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        message = exc.response["Error"].get("Message", "")
        if "AlreadyExists" not in code and "already exists" not in message.lower():
            raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(
        kopf.operator(
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            standalone=True,
            liveness_endpoint=None,
        )
    )


if __name__ == "__main__":
    main()
