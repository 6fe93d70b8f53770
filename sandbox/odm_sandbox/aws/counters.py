"""Calls per operation as the server saw them: the measure of the operator's AWS call budget.

Benchmarks compare "DescribeTasks calls per poll interval" with the number of active tasks, and tests assert
that an invalid spec costs zero AWS calls, so every request is counted once, before throttling or faults
decide its fate; throttled and fault-injected answers are also counted separately. Each call, throttled answer
and accepted ECS call (moto ran it and answered 200) also keeps its time (``time.monotonic()``), so a benchmark
can tell when the last RunTask was accepted and how many DescribeTasks calls fell into a window.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from typing import Any


class CallCounters:
    def __init__(self) -> None:
        self._calls: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._times: defaultdict[str, list[float]] = defaultdict(list)  # op -> monotonic time of each call
        self._throttled_times: defaultdict[str, list[float]] = defaultdict(list)
        self._accepted_times: defaultdict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def record_call(self, operation_key: str) -> None:
        with self._lock:
            self._calls[operation_key] += 1
            self._times[operation_key].append(time.monotonic())

    def record_throttled(self, operation_key: str) -> None:
        with self._lock:
            self._throttled[operation_key] += 1
            self._throttled_times[operation_key].append(time.monotonic())

    def record_accepted(self, operation_key: str) -> None:
        """The backend ran the call and answered 200 (for RunTask: a new task, not a clientToken replay)."""
        with self._lock:
            self._accepted_times[operation_key].append(time.monotonic())

    def record_fault(self, operation_key: str) -> None:
        with self._lock:
            self._faults[operation_key] += 1

    def calls(self, operation_key: str) -> int:
        with self._lock:
            return self._calls[operation_key]

    def throttled(self, operation_key: str) -> int:
        with self._lock:
            return self._throttled[operation_key]

    def times(self, operation_key: str, kind: str = "calls") -> list[float]:
        """Monotonic times of an operation's ``calls``, ``throttled`` answers or ``accepted`` calls."""
        tables = {"calls": self._times, "throttled": self._throttled_times, "accepted": self._accepted_times}
        table = tables[kind]
        with self._lock:
            return list(table.get(operation_key, ()))

    def snapshot(self) -> dict[str, Any]:
        """{"calls": {op: n}, "throttled": {op: n}, "faults": {op: n}, "total": n}"""
        with self._lock:
            return {
                "calls": dict(self._calls),
                "throttled": dict(self._throttled),
                "faults": dict(self._faults),
                "total": sum(self._calls.values()),
            }

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._throttled.clear()
            self._faults.clear()
            self._times.clear()
            self._throttled_times.clear()
            self._accepted_times.clear()
