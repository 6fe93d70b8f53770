"""The value types the desired-state modules share: who a job is, its resolved size, where its task runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .sizing import Sizing


@dataclass(frozen=True)
class JobRef:
    """Who the job is: enough to name, tag and find its tasks."""

    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class TaskSize:
    """Resolved resources of one attempt, in ECS units."""

    cpu_units: int
    memory_mib: int
    gpus: int
    disk_gib: int
    sizing: Sizing | None = None  # set when derived from the dataset


@dataclass
class DesiredCapacity:
    """Where the task runs and what must exist for it."""

    kind: str  # fargate | existing | managed
    cluster: str
    strategy: list[dict[str, Any]]
    provider: str
    requests: dict[str, Any] = field(
        default_factory=dict
    )  # managed: launch template, group, provider requests


@dataclass
class DesiredJob:
    family: str
    task_definition: dict[str, Any]
    capacity: DesiredCapacity
    run_task: dict[str, Any]
