"""Reconcile passes that are not kopf events: a tracked task changed, or something falls due later.

Every pass runs here: kopf only hands over the events of the watch (handlers.py), the tracker reports a changed
task (so a job moves to Running or Succeeded within one poll, without any per-job timer), and the planner's
``requeue_after`` (retry backoff, deadline, TTL) and the resync interval schedule a pass at the right moment.
A small thread pool runs the passes; one pending pass per job is enough, so duplicates are dropped, and only the
earliest scheduled pass of a job is kept (each pass schedules the next one).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

# A pass makes a few round trips (status patches, the finalizer, RunTask) and may wait for RunTask's pacer; 16
# threads keep a burst of new jobs at ECS's RunTask quota (8 left it ~5% below, measured with benchmarks/scale.py).
WORKERS = 16
# A failed pass (the API server answered 409/5xx, AWS throttled) runs again after 1 s, doubling per failure in a
# row up to 30 s: the event that caused it will not come again, and the resync may be far off.
RETRY_SECONDS, RETRY_MAX_SECONDS = 1.0, 30.0
# The scheduler wakes at least this often (seconds), whatever is due.
MAX_WAIT_SECONDS = 3600.0


class Dispatcher:
    def __init__(self, run: Callable[[str], None], workers: int = WORKERS):
        self._run = run
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="odm-dispatch")
        self._queued: set[str] = set()
        self._failures: dict[str, int] = {}  # key -> passes failed in a row
        self._later: list[tuple[float, str]] = []
        # key -> when its scheduled pass is due (heap entries that do not match are stale)
        self._due: dict[str, float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._timer, name="odm-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def submit(self, key: str) -> None:
        """Run a pass for ``key`` soon, unless one is already waiting to run."""
        with self._lock:
            if key in self._queued or self._stop.is_set():
                return
            self._queued.add(key)
        self._pool.submit(self._call, key)

    def later(self, key: str, seconds: float) -> None:
        """Run a pass for ``key`` in ``seconds``, unless one is scheduled sooner already."""
        at = time.monotonic() + max(0.0, seconds)
        with self._lock:
            scheduled = self._due.get(key)
            if scheduled is not None and scheduled <= at:
                return
            self._due[key] = at
            heapq.heappush(self._later, (at, key))
        self._wake.set()

    def cancel(self, key: str) -> None:
        """Forget the key's scheduled pass and its failures (the object is gone)."""
        with self._lock:
            self._due.pop(key, None)
            self._failures.pop(key, None)

    def _call(self, key: str) -> None:
        with self._lock:
            self._queued.discard(key)
        try:
            self._run(key)
        except Exception as exc:  # a failed pass is retried, with backoff
            with self._lock:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
            delay = min(RETRY_SECONDS * 2 ** (failures - 1), RETRY_MAX_SECONDS)
            log.warning("Dispatched reconcile failed key=%s retry_in=%.0fs: %s", key, delay, exc)
            self.later(key, delay)
        else:
            with self._lock:
                self._failures.pop(key, None)

    def _timer(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                now = time.monotonic()
                due = []
                while self._later and self._later[0][0] <= now:
                    at, key = heapq.heappop(self._later)
                    if self._due.get(key) == at:
                        del self._due[key]
                        due.append(key)
                wait = self._later[0][0] - now if self._later else None
            for key in due:
                self.submit(key)
            # Capped: a requeue centuries away (a huge ttlSecondsAfterFinished) is beyond what Event.wait takes
            # (OverflowError), which would end this thread and every scheduled pass with it.
            self._wake.wait(None if wait is None else min(wait, MAX_WAIT_SECONDS))
            self._wake.clear()
