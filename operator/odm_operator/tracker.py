"""The shared tracker: one poller for every active task, DescribeTasks in batches of 100 per cluster.

Jobs never poll AWS themselves. They register their task here and read the last observed state from memory, so
the number of DescribeTasks calls per interval is ceil(active tasks / 100) per cluster, whatever the number of
jobs. A task is first observed from RunTask's own response, so a new task needs no extra describe call.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from . import metrics
from .aws.errors import AwsCallError
from .plan.observed import ObservedTask, from_describe

log = logging.getLogger(__name__)


class Tracker:
    def __init__(
        self,
        describe: Callable[[str, list[str]], list[dict[str, Any]]],
        interval: float,
        on_change: Callable[[ObservedTask], None] | None = None,
    ):
        self._describe = describe
        self._interval = interval
        self._on_change = on_change
        self._watched: dict[str, str] = {}  # task ARN -> cluster
        self._observed: dict[str, ObservedTask] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0
        self.calls = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="odm-tracker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def watch(self, cluster: str, arn: str) -> None:
        with self._lock:
            if arn in self._watched:
                return
            self._watched[arn] = cluster

    def forget(self, arn: str) -> None:
        with self._lock:
            self._watched.pop(arn, None)
            self._observed.pop(arn, None)

    def get(self, arn: str | None) -> ObservedTask | None:
        if not arn:
            return None
        with self._lock:
            return self._observed.get(arn)

    def record(self, task: ObservedTask) -> None:
        """Seed the cache with a task the caller already described (RunTask's response, adoption)."""
        with self._lock:
            self._observed[task.arn] = task

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._watched)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.poll()
            except Exception:  # the loop must survive anything; the next interval retries
                log.exception("Tracker poll failed")

    @metrics.timed_poll
    def poll(self) -> None:
        with self._lock:
            by_cluster: dict[str, list[str]] = {}
            for arn, cluster in self._watched.items():
                by_cluster.setdefault(cluster, []).append(arn)
        self.polls += 1
        for cluster, arns in by_cluster.items():
            try:
                tasks = self._describe(cluster, arns)
            except AwsCallError as exc:
                log.warning("DescribeTasks failed cluster=%s code=%s: %s", cluster, exc.code, exc.message)
                continue
            self.calls += -(-len(arns) // 100)
            changed = []
            with self._lock:
                for raw in tasks:
                    task = from_describe(raw)
                    if task.arn not in self._watched:
                        continue
                    before = self._observed.get(task.arn)
                    if before != task:
                        self._observed[task.arn] = task
                        changed.append(task)
            if self._on_change:
                for task in changed:
                    self._on_change(task)
