"""ECS Task State Change events: what ECS publishes to EventBridge on every change of a task, and moto does not.

moto's ECS emits no events (only moto/s3/notifications.py feeds its EventBridge), so the agent calls ``emit``
whenever it raises a task's ``version`` (every lastStatus change and every container change, as ECS does:
AmazonECS ecs_task_events.html). The event goes through moto's own EventBridge (the in-process equivalent of
PutEvents): its rules' patterns decide whether it matches, its targets route it to SQS, and the sandbox's
delivery check (event_delivery.py) refuses a queue whose policy does not let that rule send. The detail is the
task as DescribeTasks shows it (the same serializer, shape_json.py) without tags, with ISO 8601 timestamps and
``updatedAt``, as in ECS's examples.

EventBridge delivers at least once and in no order (ecs_cwet_handling.html), while moto never loses, repeats or
reorders. The faults (control API ``POST /event-faults``) make it: ``drop`` (never delivered), ``duplicate``
(delivered twice) and ``reorder`` (held back and delivered right after the task's next event, or after
``REORDER_HOLD_S`` if none comes), each a probability per event, drawn from a seeded RNG.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from moto.events.models import events_backends

from .clock import SimClock
from .shape_json import service_model, to_json

SOURCE = "aws.ecs"
DETAIL_TYPE = "ECS Task State Change"
# A reordered event whose task has no later event is let go after this many real seconds (else it would be lost).
REORDER_HOLD_S = 0.5
# How often held events are looked at.
RELEASE_EVERY_S = 0.05


@dataclass
class EventFaults:
    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability within [0, 1], got {value!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventFaults:
        unknown = set(data) - {"drop", "duplicate", "reorder", "seed"}
        if unknown:
            raise ValueError(
                f"unknown event fault fields: {sorted(unknown)}; allowed: drop, duplicate, reorder, seed"
            )
        return cls(**{k: v for k, v in data.items() if k != "seed"})


class TaskEventPublisher:
    def __init__(self, clock: SimClock, lock: threading.RLock, seed: int = 0) -> None:
        self.clock = clock
        self.lock = lock
        self.faults = EventFaults()
        self._rng = random.Random(seed)
        self._held: dict[str, list[tuple[float, dict[str, Any]]]] = {}  # task ARN -> (release at, entry)
        self.counts = {"published": 0, "delivered": 0, "dropped": 0, "duplicated": 0, "reordered": 0}
        # Real time (time.time()) each (task ARN, lastStatus) was first published, when ``record_times``:
        # benchmarks measure the time from a state change to the job's status write from it.
        self.published_at: dict[tuple[str, str], float] = {}
        self.record_times = False
        self.delivered = threading.Condition()  # notified after every delivery (SQS long polls wait on it)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="odm-sandbox-ecs-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def set_faults(self, faults: EventFaults, seed: int | None = None) -> None:
        with self.lock:
            self.faults = faults
            if seed is not None:
                self._rng.seed(seed)

    def reset(self) -> None:
        self.faults = EventFaults()
        self._held.clear()
        self.published_at.clear()
        for key in self.counts:
            self.counts[key] = 0

    def status(self) -> dict[str, Any]:
        return {
            "faults": asdict(self.faults),
            "counts": dict(self.counts),
            "held": sum(map(len, self._held.values())),
        }

    # Called by the agent with the sandbox lock held.

    def emit(self, task: Any) -> None:
        """The task changed (its version rose): publish its state change event, through the faults."""
        _, _, _, region, account, _ = task.task_arn.split(":", 5)
        backend = events_backends[account][region]
        bus = backend.event_buses.get("default")
        if bus is None or not bus.rules:
            return  # nobody listens: skip building the event
        entry = self._entry(task)
        self.counts["published"] += 1
        if self.record_times:
            self.published_at.setdefault((task.task_arn, str(task.last_status)), time.time())
        held = self._held.pop(task.task_arn, [])
        draw = self._rng.random()
        if draw < self.faults.drop:
            self.counts["dropped"] += 1
        elif not held and draw < self.faults.drop + self.faults.reorder:
            self.counts["reordered"] += 1
            self._held[task.task_arn] = [(time.monotonic() + REORDER_HOLD_S, entry)]
            return  # it goes after the task's next event
        else:
            self._deliver(backend, entry)
            if self._rng.random() < self.faults.duplicate:
                self.counts["duplicated"] += 1
                self._deliver(backend, entry)
        for _, older in held:  # after a later event of their task: out of order
            self._deliver(backend, older)

    # Internals.

    def _loop(self) -> None:
        while not self._stop.wait(RELEASE_EVERY_S):
            now = time.monotonic()
            with self.lock:
                for arn in [a for a, held in self._held.items() if held and held[0][0] <= now]:
                    _, _, _, region, account, _ = arn.split(":", 5)
                    for _, entry in self._held.pop(arn):
                        self._deliver(events_backends[account][region], entry)

    def _deliver(self, backend: Any, entry: dict[str, Any]) -> None:
        backend.put_events([entry])
        self.counts["delivered"] += 1
        with self.delivered:
            self.delivered.notify_all()

    def _entry(self, task: Any) -> dict[str, Any]:
        detail = to_json(task, service_model("ecs").shape_for("Task"))
        detail.pop("tags", None)  # "the event does not include tags" (anchors-turn2.md section 5)
        for key, value in list(detail.items()):
            if key.endswith("At") and isinstance(value, int | float):
                detail[key] = _iso(value)
        now = self.clock.wall(self.clock.now())
        stamp = now.timestamp()
        detail["updatedAt"] = _iso(stamp)
        return {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(detail),
            "Resources": [task.task_arn],
            "Time": stamp,
        }


def _iso(epoch: float) -> str:
    """ECS's event timestamps: ISO 8601 in UTC with milliseconds, e.g. 2016-12-06T16:41:05.702Z."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
