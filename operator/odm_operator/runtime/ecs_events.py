"""The event consumer (tracking: events): ECS Task State Change events from an SQS queue into the tracker.

Four threads long-poll the queue (10 messages, 20 s each), decode each message (plan/task_events.py), hand the
batch to the tracker, which applies each change once and in order, and then delete the batch (DeleteMessageBatch).
A batch the tracker failed on is not deleted: SQS shows it again after its visibility timeout. A message that is
no ECS event is deleted and logged, so it cannot come back forever. The calls do not grow with the number of jobs:
one ReceiveMessage per ten events (or per 20 s when nothing happens) and one DeleteMessageBatch per batch.

The queue and the rule are set up here, before the first receive, unless the admin gave a queue
(``eventsQueueUrl``): then the operator creates nothing. The rule's pattern names the clusters the operator's tasks
run in; a job in a new cluster widens it (``add_cluster``) with one PutRule. Until then, and while the queue
cannot be read, the tracker's sweep keeps every job moving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import contract
from ..aws.errors import AwsCallError
from ..aws.events import LONG_POLL_SECONDS, TaskEventsGateway
from ..plan.task_events import EventError, cluster_arn, decode

log = logging.getLogger(__name__)

# Waits after a failed call, doubling from the first to the last: a missing permission or queue is logged a few
# times a minute, not hundreds.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0
# Receivers polling the queue at once: one receive, apply and delete costs a few AWS round trips, so one receiver
# keeps up with ~10 events per round trip; a burst of thousands of tasks starting needs several (SQS serves
# concurrent receivers distinct messages, and the tracker takes events in any order).
RECEIVERS = 4
# The stream counts as alive this long after the last successful receive (a long poll lasts LONG_POLL_SECONDS).
ALIVE_SECONDS = 2 * LONG_POLL_SECONDS + 10


class EventConsumer:
    def __init__(
        self,
        gateway: TaskEventsGateway,
        apply: Callable[[list[dict[str, Any]]], int],
        *,
        queue_url: str | None,
        queue_name: str,
        rule_name: str,
        clusters: list[str],
        clock: Callable[[], float] = time.monotonic,
        receivers: int = RECEIVERS,
    ):
        self._gateway = gateway
        self._apply = apply
        self._given_url = queue_url
        self._queue_name = queue_name
        self._rule_name = rule_name
        self._clusters: set[str] = set(clusters)
        self._routed: set[str] = set()  # clusters the rule's pattern names
        self._queue: tuple[str, str] | None = None  # (URL, ARN) once set up
        self._clock = clock
        self._last_receive: float | None = None
        self._lock = threading.Lock()
        self._ensure_lock = threading.Lock()  # one receiver sets up the queue and the rule, the others wait
        self._stop = threading.Event()
        self._receivers = receivers
        self._threads: list[threading.Thread] = []
        self.applied = 0  # events that changed what the tracker knew
        self.received = 0

    def start(self) -> None:
        for number in range(self._receivers):
            thread = threading.Thread(target=self._run, name=f"odm-events-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=1)  # it may be inside a 20 s long poll; it is a daemon

    def add_cluster(self, cluster: str) -> None:
        """A task runs in ``cluster``: its events must reach the queue (the rule is widened before the next
        receive)."""
        with self._lock:
            self._clusters.add(cluster)

    def alive(self) -> bool:
        """Whether the queue was read successfully of late (the tracker then trusts silence)."""
        last = self._last_receive
        return last is not None and self._clock() - last < ALIVE_SECONDS

    def _run(self) -> None:
        wait = RETRY_FIRST_SECONDS
        while not self._stop.is_set():
            try:
                self.step()
                wait = RETRY_FIRST_SECONDS
            except AwsCallError as exc:
                log.warning("Reading ECS task events failed code=%s: %s", exc.code, exc.message)
                self._stop.wait(wait)
                wait = min(wait * 2, RETRY_MAX_SECONDS)
            except Exception:  # the loop must survive anything; the sweep covers the gap
                log.exception("Applying ECS task events failed")
                self._stop.wait(wait)
                wait = min(wait * 2, RETRY_MAX_SECONDS)

    def step(self) -> None:
        """Set up what is missing, then one receive, apply and delete."""
        url = self._ensure()
        messages = self._gateway.receive(url)
        self._last_receive = self._clock()
        if not messages:
            return
        with self._lock:
            self.received += len(messages)
        details = []
        for message in messages:
            try:
                details.append(decode(message.get("Body", "")))
            except EventError as exc:
                log.warning(
                    "Dropped a queue message that is no ECS task event id=%s: %s",
                    message.get("MessageId"),
                    exc,
                )
        applied = self._apply(details)  # raises: nothing is deleted, SQS shows the batch again
        with self._lock:
            self.applied += applied
        failed = self._gateway.delete(url, messages)
        if failed:
            log.warning("Deleting ECS task events failed for %d of %d messages", len(failed), len(messages))

    def _ensure(self) -> str:
        if self._given_url is not None:
            return self._given_url
        with self._ensure_lock:
            return self._ensure_locked()

    def _ensure_locked(self) -> str:
        if self._queue is None:
            self._queue = self._gateway.ensure_queue(self._queue_name)
            log.info("Ensured the ECS task event queue url=%s", self._queue[0])
        url, arn = self._queue
        with self._lock:
            wanted = set(self._clusters)
        if not wanted <= self._routed:
            arns = [cluster_arn(arn, name) for name in sorted(wanted)]
            self._gateway.ensure_rule(self._rule_name, arns, contract.STARTED_BY_PREFIX, url, arn)
            self._routed = wanted
            log.info(
                "Ensured the ECS task event rule name=%s clusters=%s",
                self._rule_name,
                ",".join(sorted(wanted)),
            )
        return url
