"""Garbage collection of operator-managed capacity that no ODMJob has referenced for a grace period.

Jobs "touch" their provider on every reconcile pass while they are not finished. A provider that the operator
created (name prefix and tag) and that nobody touched for ``grace`` seconds is detached, scaled to zero and
deleted with its group and template. After a restart every existing provider counts as touched at start-up, so
a restart never deletes capacity early; ECS itself refuses to detach a provider that still has tasks. Between
ensuring a provider and RunTask accepting a task on it (which can take a while under throttling), the provider
has no tasks yet, so a job holds it with ``using``: a sweep skips held providers, and a job that wants a provider
the janitor is deleting waits for the deletion to finish (and then re-creates it).
The account is listed once, at the first sweep; after that a sweep calls AWS only when a provider is due, so an
idle operator makes no capacity calls at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..aws.capacity_providers import CapacityGateway
from ..aws.errors import AwsCallError

log = logging.getLogger(__name__)


class Janitor:
    def __init__(
        self,
        capacity: CapacityGateway,
        cluster: Callable[[str], str],
        grace: float,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.capacity = capacity
        self._cluster = cluster  # provider -> cluster it is attached to
        self.grace = grace
        self.time_scale = time_scale
        self._clock = clock
        self._touched: dict[str, float] = {}
        self._started = clock()
        self._listed = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._held: dict[str, int] = {}  # provider -> jobs between ensuring it and RunTask's answer
        self._deleting: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.deleted: list[str] = []

    def touch(self, provider: str) -> None:
        with self._lock:
            self._touched[provider] = self._clock()

    @contextmanager
    def using(self, provider: str) -> Iterator[None]:
        """Hold ``provider`` while a job ensures it and starts a task on it; sweeps leave held providers alone."""
        with self._changed:
            while provider in self._deleting:
                self._changed.wait()
            self._held[provider] = self._held.get(provider, 0) + 1
            self._touched[provider] = self._clock()
        try:
            yield
        finally:
            with self._changed:
                left = self._held.pop(provider) - 1
                if left:
                    self._held[provider] = left
                self._touched[provider] = self._clock()

    def start(self) -> None:
        # Sweep often enough to act within a quarter of the grace period, never more than once a second.
        interval = max(1.0, min(self.grace / 4, 300.0) / self.time_scale)
        self._thread = threading.Thread(target=self._run, args=(interval,), name="odm-janitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except AwsCallError as exc:
                log.warning("Capacity sweep failed code=%s: %s", exc.code, exc.message)
            except Exception:
                log.exception("Capacity sweep failed")

    def sweep(self) -> list[str]:
        """Delete idle managed providers; returns the names deleted in this sweep."""
        now = self._clock()
        if not self._listed:
            for name in self.capacity.managed_providers():
                with self._lock:
                    self._touched.setdefault(name, self._started)
            self._listed = True
        with self._lock:
            due = [(name, (now - last) * self.time_scale) for name, last in self._touched.items()]
        gone = []
        for name, idle in due:
            if idle < self.grace or not self._claim(name):
                continue
            deleted = False
            try:
                deleted = self.capacity.delete(self._cluster(name), name)
            finally:
                with self._changed:
                    self._deleting.discard(name)
                    if deleted:
                        self._touched.pop(name, None)
                    else:  # still has tasks, or not ours after all: look again after another grace period
                        self._touched[name] = self._clock()
                    self._changed.notify_all()
            if deleted:
                gone.append(name)
                log.info("Deleted idle capacity provider name=%s idle_seconds=%.0f", name, idle)
        self.deleted.extend(gone)
        return gone

    def _claim(self, name: str) -> bool:
        """Mark ``name`` as being deleted unless a job holds it or used it since the sweep looked."""
        with self._lock:
            last = self._touched.get(name)
            if self._held.get(name) or last is None or (self._clock() - last) * self.time_scale < self.grace:
                return False
            self._deleting.add(name)
            return True
