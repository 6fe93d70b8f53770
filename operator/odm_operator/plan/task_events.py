"""ECS Task State Change events -> the observation DescribeTasks would give, applied once and never backwards.

ECS publishes every change of a task to EventBridge as an "ECS Task State Change" event whose ``detail`` is the
task as DescribeTasks shows it, without tags (AmazonECS ecs_task_events.html). EventBridge delivers at least once
and in no particular order (ecs_cwet_handling.html): a change may come twice, and an older one after a newer. ECS
raises the task's ``version`` with every change (the same number in the event and in DescribeTasks), so of two
observations the one with the higher version is the later; a duplicate carries the same version. This module
decides, for each event, whether it replaces what is known of the task: the tracker applies it, the event
consumer deletes it either way.

Without versions on both sides (ECS always sends one; a hand-made event may not) the lifecycle decides: a task
never goes back in ECS's lifecycle, and no container goes back from STOPPED.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .observed import MISSING, ObservedTask, from_describe

SOURCE = "aws.ecs"
DETAIL_TYPE = "ECS Task State Change"
# A task's lastStatus in lifecycle order (AmazonECS task-lifecycle-explanation.html). MISSING (ECS forgot the
# task) ranks with STOPPED: both are final.
LIFECYCLE = (
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
)
_RANK = {status: rank for rank, status in enumerate(LIFECYCLE)} | {MISSING: len(LIFECYCLE) - 1}
# A container's lastStatus in order (PENDING -> RUNNING -> STOPPED).
_CONTAINER_RANK = {"PENDING": 0, "RUNNING": 1, "STOPPED": 2}


class EventError(ValueError):
    """A queue message that is not an ECS Task State Change event (it is deleted, and logged once)."""


def decode(body: str) -> dict[str, Any]:
    """The ``detail`` of an ECS Task State Change event delivered by EventBridge as an SQS message body."""
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise EventError(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise EventError("not a JSON object")
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise EventError(
            f"source={event.get('source')!r} detail-type={event.get('detail-type')!r}, "
            f"expected {SOURCE!r} and {DETAIL_TYPE!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict) or not isinstance(detail.get("taskArn"), str):
        raise EventError("detail has no taskArn")
    return detail


def rank(status: str | None) -> int:
    return _RANK.get(status or "", -1)


def supersedes(known: ObservedTask | None, candidate: ObservedTask) -> bool:
    """Whether ``candidate`` may replace ``known`` (the same version counts: it is the same state, seen again)."""
    if known is None:
        return True
    if rank(candidate.last_status) < rank(known.last_status):
        return False  # never backwards, whatever the versions say
    if known.version is not None and candidate.version is not None:
        return candidate.version >= known.version
    for name, before in known.containers.items():
        after = candidate.containers.get(name)
        if after is not None and _CONTAINER_RANK.get(after.last_status or "", -1) < _CONTAINER_RANK.get(
            before.last_status or "", -1
        ):
            return False
    return True


def observe(detail: dict[str, Any], known: ObservedTask | None, observed_at: str) -> ObservedTask | None:
    """The observation an event gives, or None when it is older than (or a duplicate of) what is known.

    Events carry no tags: the known ones are kept (the tags of a task never change while it runs)."""
    candidate = from_describe(detail, observed_at=observed_at)
    if known is None:
        return candidate
    if not supersedes(known, candidate):
        return None
    if candidate.version is not None and candidate.version == known.version:
        return None  # a duplicate: nothing new
    if not candidate.tags and known.tags:
        candidate = dataclasses.replace(candidate, tags=known.tags)
    return candidate


def event_pattern(cluster_arns: list[str], started_by_prefix: str) -> dict[str, Any]:
    """The EventBridge pattern of the operator's rule: state changes of tasks it started in its clusters."""
    return {
        "source": [SOURCE],
        "detail-type": [DETAIL_TYPE],
        "detail": {
            "clusterArn": sorted(set(cluster_arns)),
            "startedBy": [{"prefix": started_by_prefix}],
        },
    }


def queue_policy(queue_arn: str, rule_arn: str) -> dict[str, Any]:
    """The SQS queue policy that lets only the operator's rule send to the queue (EventBridge User Guide,
    "Amazon SQS permissions": principal events.amazonaws.com, condition aws:SourceArn = the rule)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OdmOperatorTaskStateChanges",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }


def cluster_arn(queue_arn: str, cluster: str) -> str:
    """The ARN of ``cluster`` in the queue's partition, Region and account (the operator's): a cluster name, or
    an ARN as given."""
    if cluster.startswith("arn:"):
        return cluster
    _, partition, _, region, account, _ = queue_arn.split(":", 5)
    return f"arn:{partition}:ecs:{region}:{account}:cluster/{cluster}"
