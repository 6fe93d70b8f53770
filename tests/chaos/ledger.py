"""Every ECS task RunTask created in the sandbox, with the tags it was created with.

Duplicates cannot be counted from AWS afterwards: StopTask deletes a task's tags (as on AWS) and ECS forgets
stopped tasks after about an hour (six real seconds at the tests' time scale). So the ledger records each task
at the moment the sandbox accepts it, from the sandbox's own hook for new tasks (the simulated agent's
``adopt``), in the same process as the sandbox. A RunTask replayed by its clientToken creates no task and is
not recorded, exactly as ECS would not start a second one.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends

from odm_operator import contract
from odm_sandbox.aws import AwsSandbox


@dataclass(frozen=True)
class StartedTask:
    arn: str
    uid: str | None  # contract.TAG_JOB_UID at creation
    attempt: int | None  # contract.TAG_ATTEMPT at creation
    started_by: str
    at: float  # time.monotonic() when the sandbox accepted it


@dataclass(frozen=True)
class TaskState:
    arn: str
    started_by: str
    desired: str
    last: str
    stop_code: str | None


class TaskLedger:
    """Install with ``TaskLedger(stack.aws)``, ``close()`` when done (it unhooks itself)."""

    def __init__(self, aws: AwsSandbox):
        self._aws = aws
        self._lock = threading.Lock()
        self._tasks: list[StartedTask] = []
        agent = aws.agent
        original = agent.adopt

        def adopt(backend: Any, task: Any, placement: Any = None) -> None:
            tags = {t.get("key"): t.get("value") for t in task.tags or []}
            attempt = tags.get(contract.TAG_ATTEMPT)
            entry = StartedTask(
                arn=task.task_arn,
                uid=tags.get(contract.TAG_JOB_UID),
                attempt=int(attempt) if attempt and attempt.isdigit() else None,
                started_by=task.started_by or "",
                at=time.monotonic(),
            )
            with self._lock:
                self._tasks.append(entry)
            original(backend, task, placement)

        agent.adopt = adopt  # an instance attribute over the method: removed again by close()

    def close(self) -> None:
        self._aws.agent.__dict__.pop("adopt", None)

    def __enter__(self) -> TaskLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def tasks(self) -> list[StartedTask]:
        with self._lock:
            return list(self._tasks)

    def of(self, uid: str) -> list[StartedTask]:
        """Tasks of one job: by the uid tag, or by startedBy when a task came without tags."""
        return [t for t in self.tasks if t.uid == uid or t.started_by == contract.started_by(uid)]

    def duplicates(self, uids: set[str]) -> dict[tuple[str, int | None], list[str]]:
        """(job uid, attempt) -> task ARNs, for every pair that got more than one task."""
        by_attempt: dict[tuple[str, int | None], list[str]] = defaultdict(list)
        for task in self.tasks:
            uid = task.uid or task.started_by.removeprefix(contract.STARTED_BY_PREFIX)
            if uid in uids:
                by_attempt[(uid, task.attempt)].append(task.arn)
        return {key: arns for key, arns in by_attempt.items() if len(arns) > 1}

    def states(self, cluster: str = "odm") -> dict[str, TaskState]:
        """ARN -> current state of every task ECS still shows (read in-process, under the sandbox's lock)."""
        with self._aws.lock:
            tasks = ecs_backends[DEFAULT_ACCOUNT_ID][self._aws.region].tasks.get(cluster, {})
            return {
                arn: TaskState(
                    arn, task.started_by or "", task.desired_status, task.last_status, task.stop_code
                )
                for arn, task in tasks.items()
            }

    def running(self, uids: set[str], cluster: str = "odm") -> list[TaskState]:
        """Tasks of these jobs that ECS still wants running (desiredStatus RUNNING)."""
        wanted = {contract.started_by(uid) for uid in uids}
        return [s for s in self.states(cluster).values() if s.started_by in wanted and s.desired == "RUNNING"]
