"""Calls per operation as the server saw them: the measure of the operator's AWS call budget.

Benchmarks compare "DescribeTasks calls per poll interval" with the number of active tasks, and tests assert
that an invalid spec costs zero AWS calls, so every request is counted once, before throttling or faults
decide its fate; throttled and fault-injected answers are also counted separately.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class CallCounters:
    def __init__(self) -> None:
        self._calls: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record_call(self, operation_key: str) -> None:
        with self._lock:
            self._calls[operation_key] += 1

    def record_throttled(self, operation_key: str) -> None:
        with self._lock:
            self._throttled[operation_key] += 1

    def record_fault(self, operation_key: str) -> None:
        with self._lock:
            self._faults[operation_key] += 1

    def calls(self, operation_key: str) -> int:
        with self._lock:
            return self._calls[operation_key]

    def throttled(self, operation_key: str) -> int:
        with self._lock:
            return self._throttled[operation_key]

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
