"""The shared tracker: one poller for every active task, DescribeTasks in batches of 100 per cluster.

Jobs never poll AWS themselves. They register their task here and read the last observed state from memory, so
the number of DescribeTasks calls per interval is ceil(active tasks / 100) per cluster, whatever the number of
jobs. A task is first observed from RunTask's own response, so a new task needs no extra describe call.

With ``tracking: events`` (ecs_events.py) ECS's own state change events are applied as they come
(``apply_events``), and DescribeTasks runs only as a sweep every ``sweep_interval`` (events lost, tasks never heard
of) and for a watched task not yet observed at all. Between sweeps the poll still reads ODM's progress for the
tasks it knows, from the logs, without an ECS call. Both paths keep a task's state from going backwards
(plan/task_events.py): an event older than a sweep's answer, or a sweep's answer older than an event, is dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import contract, metrics
from ..aws.ecs import DESCRIBE_BATCH
from ..aws.errors import AwsCallError
from ..plan.observed import ObservedTask, from_describe, missing
from ..plan.progress import Progress, advance, from_containers
from ..plan.status import now_rfc3339
from ..plan.task_events import observe, supersedes

# (streams, start in epoch ms) -> (stream, timestamp ms, message) of ODM's stage lines
LogReader = Callable[[list[str], int], list[tuple[str, int, str]]]

log = logging.getLogger(__name__)

# Polls in a row in which DescribeTasks must not return a watched task before it counts as MISSING (gone from
# ECS): right after RunTask, ECS's eventual consistency may briefly hide a new task.
MISSING_POLLS = 3


class Tracker:
    def __init__(
        self,
        describe: Callable[[str, list[str]], list[dict[str, Any]]],
        interval: float,
        on_change: Callable[[ObservedTask], None] | None = None,
        read_logs: LogReader | None = None,
        stream_prefix: str = "odm",
        sweep_interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._describe = describe
        self._interval = interval
        self._on_change = on_change
        self._watched: dict[str, str] = {}  # task ARN -> cluster
        self._observed: dict[str, ObservedTask] = {}
        self._read_logs = read_logs
        self._stream_prefix = stream_prefix
        self._progress: dict[str, Progress] = {}
        self._log_position: dict[str, int] = {}  # stream -> last timestamp read (ms)
        self._last_lines: dict[str, set[str]] = {}  # stream -> lines read at that timestamp
        self._odm_seen: set[str] = set()  # tasks whose odm container was running at the previous poll
        self._unseen: dict[str, int] = {}  # task ARN -> polls in a row DescribeTasks did not return it
        self._lock = threading.Lock()
        self._progress_lock = threading.Lock()  # the poll and the event consumer both attach progress
        # tracking: events: describe every task only every ``sweep_interval`` seconds (None: at every poll).
        self._sweep_interval = sweep_interval
        self._clock = clock
        self._next_sweep = 0.0
        # Whether the event stream is flowing (ecs_events.py): then a known task without news is as it was,
        # and its observation counts as fresh (a stale one must not count as time waiting for capacity).
        self.events_alive: Callable[[], bool] = lambda: False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
            self._progress.pop(arn, None)
            self._odm_seen.discard(arn)
            self._unseen.pop(arn, None)
            self._log_position.pop(self._stream(arn), None)
            self._last_lines.pop(self._stream(arn), None)

    def get(self, arn: str | None) -> ObservedTask | None:
        if not arn:
            return None
        with self._lock:
            return self._observed.get(arn)

    def record(self, task: ObservedTask) -> None:
        """Seed the cache with a task the caller already described (RunTask's response, adoption)."""
        with self._lock:
            self._observed[task.arn] = task

    def _stream(self, arn: str) -> str:
        return f"{self._stream_prefix}/{contract.ODM}/{arn.rsplit('/', 1)[-1]}"

    def _with_progress(
        self, tasks: list[ObservedTask], readable_only: set[str] | None = None
    ) -> list[ObservedTask]:
        with self._progress_lock:
            return self._attach_progress(tasks, readable_only)

    def _attach_progress(
        self, tasks: list[ObservedTask], readable_only: set[str] | None
    ) -> list[ObservedTask]:
        """Attach progress: staging from container states, ODM's stage from one batched log read per 100 tasks.

        A stream is read only once its odm container was running at an earlier poll, or has exited with a code
        (it ran, so its stream exists: FilterLogEvents fails as a whole when one named stream does not)."""
        readable: list[str] = []
        for task in tasks:
            states = task.container_states()
            odm_state = states.get(contract.ODM)
            ran = odm_state == "STOPPED" and task.exit_codes().get(contract.ODM) is not None
            if readable_only is not None and task.arn not in readable_only:
                pass  # an event: only a task whose ODM just exited has lines that cannot wait for the poll
            elif (task.arn in self._odm_seen and odm_state in ("RUNNING", "STOPPED")) or ran:
                readable.append(task.arn)  # ``ran``: ODM came and went between polls; its last lines tell why
            if odm_state == "RUNNING":
                self._odm_seen.add(task.arn)
        lines: dict[str, list[str]] = {}
        if readable and self._read_logs is not None:
            streams = [self._stream(arn) for arn in readable]
            start = min(self._log_position.get(s, 0) for s in streams)
            try:
                events = self._read_logs(streams, start)
            except AwsCallError as exc:
                log.warning("Reading ODM progress failed code=%s: %s", exc.code, exc.message)
                events = []
            for stream, stamp, message in sorted(events, key=lambda e: e[1]):
                position = self._log_position.get(stream, -1)
                seen = self._last_lines.setdefault(stream, set())
                if stamp < position or (stamp == position and message in seen):
                    continue  # read at an earlier poll: startTime is shared by the whole batch
                if stamp > position:
                    seen.clear()
                seen.add(message)
                lines.setdefault(stream, []).append(message)
                self._log_position[stream] = stamp
        out = []
        for task in tasks:
            current = self._progress.get(task.arn)
            current = advance(current, lines.get(self._stream(task.arn), []))
            current = from_containers(current, task.container_states(), task.exit_codes())
            if current is not None:
                self._progress[task.arn] = current
                task = dataclasses.replace(
                    task, progress=(current.stage, current.percent), odm_hint=current.hint
                )
            out.append(task)
        return out

    def _missing(self, asked: list[str], answered: list[ObservedTask]) -> list[ObservedTask]:
        """Tasks DescribeTasks has not returned for MISSING_POLLS polls in a row: ECS forgot them (it keeps a
        stopped task about an hour), so they stopped while nobody watched. Without this, their jobs would wait
        for them forever."""
        returned = {task.arn.rsplit("/", 1)[-1] for task in answered}
        gone = []
        with self._lock:
            for arn in asked:
                if arn.rsplit("/", 1)[-1] in returned:
                    self._unseen.pop(arn, None)
                elif arn in self._watched:
                    self._unseen[arn] = self._unseen.get(arn, 0) + 1
                    if self._unseen[arn] >= MISSING_POLLS:
                        gone.append(missing(arn))
        return gone

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
        sweep = self._sweep_interval is None or self._clock() >= self._next_sweep
        if sweep and self._sweep_interval is not None:
            self._next_sweep = self._clock() + self._sweep_interval
        cached: list[ObservedTask] = []
        with self._lock:
            by_cluster: dict[str, list[str]] = {}
            for arn, cluster in self._watched.items():
                known = self._observed.get(arn)
                if known is not None and known.stopped:
                    continue  # final: its job's pass has it; ECS forgetting it later must not turn it MISSING
                if sweep or known is None:
                    by_cluster.setdefault(cluster, []).append(arn)
                else:
                    cached.append(known)
        if cached:  # tracking: events, between sweeps: progress from the logs only
            if self.events_alive():
                seen = now_rfc3339()
                cached = [dataclasses.replace(task, observed_at=seen) for task in cached]
            self._settle(self._with_progress(cached))
        for cluster, arns in by_cluster.items():
            # One DescribeTasks call at a time, each answer turned into small observations at once: a thousand
            # raw task documents held together cost ~10 MB at every poll.
            observed: list[ObservedTask] = []
            asked: list[str] = []
            for first in range(0, len(arns), DESCRIBE_BATCH):
                batch = arns[first : first + DESCRIBE_BATCH]
                try:
                    tasks = self._describe(cluster, batch)
                except AwsCallError as exc:
                    log.warning("DescribeTasks failed cluster=%s code=%s: %s", cluster, exc.code, exc.message)
                    break
                seen = now_rfc3339()
                observed.extend(from_describe(raw, observed_at=seen) for raw in tasks)
                asked.extend(batch)
                del tasks
            if not asked:
                continue
            self._settle(self._with_progress(observed) + self._missing(asked, observed))

    def _settle(self, observed: list[ObservedTask]) -> None:
        """Keep the observations (each unless older than the one kept) and report the ones that changed."""
        changed = []
        with self._lock:
            for task in observed:
                if task.arn not in self._watched:
                    continue
                before = self._observed.get(task.arn)
                if not supersedes(before, task):
                    continue  # older than what an event (or a sweep) already showed
                self._observed[task.arn] = task  # always: it carries when ECS last described it
                if before != task:
                    changed.append(task)
        if self._on_change:
            for task in changed:
                self._on_change(task)

    def apply_events(self, details: list[dict[str, Any]]) -> int:
        """Apply ECS Task State Change events (their ``detail``, in any order, duplicates included); how many
        changed what is known. Events of tasks not watched (not ours, or not yet registered) are dropped: the
        sweep, or RunTask's own answer, has them."""
        seen = now_rfc3339()
        newest: dict[str, ObservedTask] = {}
        just_exited: set[str] = set()
        with self._lock:
            for detail in details:
                arn = detail.get("taskArn")
                if arn not in self._watched:
                    continue
                known = self._observed.get(arn)
                task = observe(detail, newest.get(arn, known), seen)
                if task is None:
                    continue
                newest[arn] = task
                before = known.exit_code(contract.ODM) if known else None
                if before is None and task.exit_code(contract.ODM) is not None:
                    just_exited.add(arn)
        if not newest:
            return 0
        self._settle(self._with_progress(list(newest.values()), readable_only=just_exited))
        return len(newest)
