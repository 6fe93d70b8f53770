"""AWS responses -> observed state: the few facts of an ECS task that decide a job's status.

DescribeTasks returns a large, changing document; the planner needs a small frozen view of it. Timestamps become
RFC 3339 strings (boto3 gives datetimes, the wire gives epoch floats) so status never depends on the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import contract

# DescribeTasks' failure reason for a task ARN it does not know (any more).
MISSING = "MISSING"


@dataclass(frozen=True)
class ContainerState:
    name: str
    last_status: str | None
    exit_code: int | None
    reason: str | None


@dataclass(frozen=True)
class ObservedTask:
    arn: str
    last_status: str
    desired_status: str | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    stopped_at: str | None = None
    capacity_provider: str | None = None
    task_definition_arn: str | None = None
    containers: dict[str, ContainerState] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    started_by: str | None = None  # RunTask's startedBy: whose task it is (plan/ownership.py)
    progress: tuple[str, int] | None = None  # (stage, percent), filled in by the tracker from the logs
    odm_hint: str | None = None  # why ODM failed, when its log says it (plan/progress.py), e.g. "disk-full"
    # When ECS last described the task (RFC 3339); a stale observation must not count as time spent waiting.
    observed_at: str | None = field(default=None, compare=False)  # not a change of the task itself
    # ECS's ``version`` of the task: it rises with every change, so of two observations the higher is the later
    # (plan/task_events.py). Not a change of its own: what changed is in the other fields.
    version: int | None = field(default=None, compare=False)

    @property
    def stopped(self) -> bool:
        return self.last_status in ("STOPPED", MISSING)

    @property
    def attempt(self) -> int | None:
        value = self.tags.get(contract.TAG_ATTEMPT)
        return int(value) if value and value.isdigit() else None

    def container_states(self) -> dict[str, str | None]:
        return {name: c.last_status for name, c in self.containers.items()}

    def exit_codes(self) -> dict[str, int | None]:
        return {name: c.exit_code for name, c in self.containers.items()}

    def exit_code(self, container: str) -> int | None:
        state = self.containers.get(container)
        return state.exit_code if state else None


def timestamp(value: Any) -> str | None:
    """RFC 3339 (UTC, seconds) from a datetime, an epoch number or an ISO string."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, tz=UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def missing(arn: str) -> ObservedTask:
    """A watched task that DescribeTasks reports MISSING: ECS forgets a stopped task about an hour after it
    stopped, so it stopped while nobody watched (the operator was down) and how it ended is unknown."""
    return ObservedTask(
        arn=arn,
        last_status=MISSING,
        desired_status="STOPPED",
        stopped_reason="ECS no longer knows the task: it stopped over an hour ago, while the operator was not "
        "watching it",
    )


def from_describe(task: dict[str, Any], observed_at: str | None = None) -> ObservedTask:
    """An ObservedTask from one entry of DescribeTasks' ``tasks``, seen at ``observed_at`` (RFC 3339)."""
    containers = {
        c["name"]: ContainerState(c["name"], c.get("lastStatus"), c.get("exitCode"), c.get("reason"))
        for c in task.get("containers", [])
        if "name" in c
    }
    tags = {t["key"]: t.get("value", "") for t in task.get("tags", []) if "key" in t}
    return ObservedTask(
        arn=task["taskArn"],
        last_status=task.get("lastStatus", "PROVISIONING"),
        desired_status=task.get("desiredStatus"),
        stop_code=task.get("stopCode"),
        stopped_reason=task.get("stoppedReason"),
        created_at=timestamp(task.get("createdAt")),
        started_at=timestamp(task.get("startedAt")),
        stopped_at=timestamp(task.get("stoppedAt")),
        capacity_provider=task.get("capacityProviderName"),
        task_definition_arn=task.get("taskDefinitionArn"),
        containers=containers,
        tags=tags,
        started_by=task.get("startedBy"),
        observed_at=observed_at,
        version=task["version"] if isinstance(task.get("version"), int) else None,
    )


def from_run_task(task: dict[str, Any], now: str) -> ObservedTask:
    """An ObservedTask from RunTask's answer. The answer describes the task as it was when ECS created it: a
    RunTask repeated with the same clientToken (after a restart that could not find the task by its startedBy,
    e.g. because it already stopped) returns the original answer, PROVISIONING and all. So it counts as seen at
    its creation, never as the task's state now: only a DescribeTasks says how long it has been waiting."""
    return from_describe(task, observed_at=timestamp(task.get("createdAt")) or now)
