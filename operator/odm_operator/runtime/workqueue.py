"""A work queue with controller-runtime's semantics (client-go ``workqueue``), for the runtime's passes.

- A key is never handed to two workers at once: ``get`` moves it to *processing*; an ``add`` for a key that is
  being processed only marks it *dirty*, and ``done`` queues it once more (so the change that arrived during the
  pass is seen by a pass that starts after it).
- A key waits in the queue at most once (adds are coalesced).
- ``add_after`` schedules a key; only its earliest scheduled time is kept. ``add_rate_limited`` is ``add_after``
  with a per-key exponential delay (a failed pass), reset by ``forget``. Delayed requeues and retries are one
  mechanism.
- The clock is injected: tests drive time with a fake clock and call ``get(block=False)``.

Why written here rather than taken from a library: no maintained Python package has these semantics (the
dirty/processing pair is what keeps one job from running on two threads); the whole is ~100 lines and tested
directly in tests/unit/test_workqueue.py.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

# A failed pass (the API server answered 409/5xx, AWS throttled) runs again after 1 s, doubling per failure in a
# row up to 30 s: the event that caused it will not come again, and the resync may be far off.
RETRY_SECONDS, RETRY_MAX_SECONDS = 1.0, 30.0
# A blocked ``get`` wakes at least this often (seconds): a requeue centuries away (a huge ttlSecondsAfterFinished)
# is beyond what Condition.wait takes (OverflowError).
MAX_WAIT_SECONDS = 3600.0


class ShutDown(Exception):
    """The queue was shut down: a worker's ``get`` returns no more keys."""


class WorkQueue:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        retry_seconds: float = RETRY_SECONDS,
        retry_max_seconds: float = RETRY_MAX_SECONDS,
    ):
        self._clock = clock
        self._retry, self._retry_max = retry_seconds, retry_max_seconds
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = (
            set()
        )  # waiting in the queue, or to be queued again when its pass is done
        self._processing: set[Hashable] = set()
        self._waiting: list[
            tuple[float, int, Hashable]
        ] = []  # heap of (due, seq, key); stale entries skipped
        self._due: dict[Hashable, float] = {}  # key -> its earliest scheduled time
        self._seq = 0
        self._failures: dict[Hashable, int] = {}
        self._cond = threading.Condition()
        self._shut_down = False

    # ----- adding ------------------------------------------------------------------------------------------

    def add(self, key: Hashable) -> None:
        with self._cond:
            self._add(key)

    def add_after(self, key: Hashable, seconds: float) -> None:
        if seconds <= 0:
            return self.add(key)
        at = self._clock() + seconds
        with self._cond:
            if self._shut_down:
                return
            scheduled = self._due.get(key)
            if scheduled is not None and scheduled <= at:
                return
            self._due[key] = at
            self._seq += 1
            heapq.heappush(self._waiting, (at, self._seq, key))
            self._cond.notify()

    def add_rate_limited(self, key: Hashable) -> float:
        """Queue ``key`` again after its backoff (1 s, 2 s, 4 s ... up to the maximum); returns the delay."""
        with self._cond:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
        delay = min(self._retry * 2 ** (failures - 1), self._retry_max)
        self.add_after(key, delay)
        return delay

    def forget(self, key: Hashable) -> None:
        """The key's pass succeeded: its next failure starts from the shortest backoff again."""
        with self._cond:
            self._failures.pop(key, None)

    def discard(self, key: Hashable) -> None:
        """The object is gone: drop its scheduled pass and failures (a pass already queued still runs)."""
        with self._cond:
            self._due.pop(key, None)
            self._failures.pop(key, None)

    # ----- working -----------------------------------------------------------------------------------------

    def get(self, block: bool = True) -> Hashable | None:
        """The next key to process (now processing), or None when not blocking and nothing is ready.
        Raises ShutDown once the queue is shut down."""
        with self._cond:
            while True:
                if self._shut_down:
                    raise ShutDown()
                wait = self._promote_due()
                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                if not block:
                    return None
                self._cond.wait(MAX_WAIT_SECONDS if wait is None else min(wait, MAX_WAIT_SECONDS))

    def done(self, key: Hashable) -> None:
        """The key's pass ended; if something asked for it meanwhile, it is queued again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty and not self._shut_down:
                self._queue.append(key)
                self._cond.notify()

    def shut_down(self) -> None:
        with self._cond:
            self._shut_down = True
            self._cond.notify_all()

    def busy(self, key: Hashable) -> bool:
        """Whether ``key`` is queued, being processed or scheduled."""
        with self._cond:
            return key in self._dirty or key in self._processing or key in self._due

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    # ----- inside the lock ---------------------------------------------------------------------------------

    def _add(self, key: Hashable) -> None:
        if self._shut_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def _promote_due(self) -> float | None:
        """Queue the keys whose time came; seconds until the next one (None when none is scheduled)."""
        now = self._clock()
        while self._waiting:
            at, _, key = self._waiting[0]
            if self._due.get(key) != at:
                heapq.heappop(self._waiting)  # rescheduled sooner, or discarded
                continue
            if at > now:
                return at - now
            heapq.heappop(self._waiting)
            del self._due[key]
            self._add(key)
        return None
