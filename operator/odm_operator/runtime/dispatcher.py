"""Reconcile passes, run by a few worker threads from one work queue (workqueue.py).

Every pass runs here: kopf only hands over the events of the watch (handlers.py), the tracker reports a changed
task (so a job moves to Running or Succeeded within one poll, without any per-job timer), and the planner's
``requeue_after`` (retry backoff, deadline, TTL) and the resync interval schedule a pass at the right moment.
The queue guarantees what the runtime relies on: one pass of a job at a time, an event during a pass causes
exactly one more pass after it, and a failed pass comes back with a per-job exponential backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)

# A pass makes a few round trips (status patches, the finalizer, RunTask) and may wait for RunTask's pacer; 16
# threads keep a burst of new jobs at ECS's RunTask quota (8 left it ~5% below, measured with benchmarks/scale.py).
WORKERS = 16


class Dispatcher:
    def __init__(
        self, run: Callable[[str], None], workers: int = WORKERS, clock: Callable[[], float] = time.monotonic
    ):
        self._run = run
        self.queue = WorkQueue(clock)
        self._threads = [
            threading.Thread(target=self._work, name=f"odm-dispatch-{n}", daemon=True) for n in range(workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.queue.shut_down()
        for thread in self._threads:
            thread.join(timeout=10)

    def submit(self, key: str) -> None:
        """Run a pass for ``key`` soon (once more after the current one, if one is running)."""
        self.queue.add(key)

    def later(self, key: str, seconds: float) -> None:
        """Run a pass for ``key`` in ``seconds``, unless one is scheduled sooner already."""
        self.queue.add_after(key, seconds)

    def cancel(self, key: str) -> None:
        """Forget the key's scheduled pass and its failures (the object is gone)."""
        self.queue.discard(key)

    def _work(self) -> None:
        while True:
            try:
                key = self.queue.get()
            except ShutDown:
                return
            if key is None:
                continue
            try:
                self._run(key)
            except Exception as exc:  # a failed pass is retried, with backoff
                delay = self.queue.add_rate_limited(key)
                log.warning("Dispatched reconcile failed key=%s retry_in=%.0fs: %s", key, delay, exc)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)
