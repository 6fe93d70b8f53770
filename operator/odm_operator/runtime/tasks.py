"""A job's ECS tasks as the runtime handles them: which job tracks which task, watching and forgetting it in the
shared tracker, stopping it (by ARN, or every task ECS lists as started by the job)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .. import contract
from ..aws.ecs import EcsGateway
from ..aws.errors import AwsCallError
from ..plan.observed import ObservedTask, from_describe
from ..plan.ownership import foreign
from .ecs_events import EventConsumer
from .errors import retry_later
from .store import JobStore
from .tracker import Tracker

log = logging.getLogger(__name__)


class Tasks:
    def __init__(
        self,
        ecs: EcsGateway,
        store: JobStore,
        tracker: Tracker,
        task_events: EventConsumer | None,
        submit: Callable[[str], None],
    ):
        self.ecs = ecs
        self.store = store
        self.tracker = tracker
        self.task_events = task_events
        self._submit = submit

    def changed(self, task: ObservedTask) -> None:
        """The tracker saw the task change: its job gets a pass."""
        owner = self.store.owner(task.arn)
        if owner is not None:
            self._submit(owner)

    def watch(self, uid: str, cluster: str, arn: str) -> None:
        owner = self.store.claim(arn, uid)
        if owner != uid:  # another job's task named in this job's status: its pass finds it foreign
            log.warning(
                "Not watching a task another job watches task=%s job uid=%s owner uid=%s", arn, uid, owner
            )
            return
        if self.task_events is not None:
            self.task_events.add_cluster(cluster)
        self.tracker.watch(cluster, arn)

    def forget(self, arn: str, uid: str | None = None) -> None:
        """Stop tracking ``arn``; with ``uid``, only if that job is the one tracking it (a foreign ARN in a job's
        status must not end the real owner's tracking)."""
        if self.store.release(arn, uid):
            self.tracker.forget(arn)

    def started_by(self, cluster: str, uid: str, observed_at: str | None = None) -> list[ObservedTask]:
        """The tasks ECS lists as started by job ``uid`` (ListTasks by startedBy, then DescribeTasks)."""
        try:
            tasks = self.ecs.tasks_started_by(cluster, contract.started_by(uid))
        except AwsCallError as exc:
            raise retry_later(exc) from exc
        return [from_describe(t, observed_at=observed_at) for t in tasks]

    def stop(self, cluster: str, arn: str, reason: str) -> None:
        try:
            self.ecs.stop_task(cluster, arn, reason)
        except AwsCallError as exc:
            raise retry_later(exc) from exc

    def stop_own(self, cluster: str, uid: str, reason: str) -> None:
        """Stop the tasks ECS lists as started by job ``uid`` (and whose own record says so)."""
        for task in self.started_by(cluster, uid):
            if not task.stopped and foreign(task, uid) is None:
                self.stop(cluster, task.arn, reason)

    def describe(self, cluster: str, arns: list[str]) -> list[dict[str, Any]]:
        return self.ecs.describe_tasks(cluster, arns)
