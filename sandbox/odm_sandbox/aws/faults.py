"""Programmable failures: "the next 2 RunTask calls answer 500", "10% of DescribeTasks are throttled".

Tests of retry and backoff need AWS to misbehave on demand and reproducibly, so rules are matched in order and
the probability draw uses a seedable RNG. The answer is rendered in the protocol's real format (errors.py).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

DEFAULT_FAULT_MESSAGE = "Injected by the odm-operator sandbox"


@dataclass
class FaultRule:
    operation: str  # "ecs:RunTask", "ecs:*" (every ECS call) or "*" (every call)
    code: str = "InternalFailure"
    status: int = 500
    message: str = DEFAULT_FAULT_MESSAGE
    probability: float = 1.0
    count: int | None = None  # answer only the next ``count`` matching calls, then retire; None = forever

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be within [0, 1], got {self.probability}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"count must be at least 1, got {self.count}")
        if not 400 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP error status, got {self.status}")

    def matches(self, operation_key: str) -> bool:
        if self.operation in ("*", operation_key):
            return True
        service, _, name = self.operation.partition(":")
        return name == "*" and operation_key.startswith(f"{service}:")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        return cls(**data)


class FaultInjector:
    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def set_rules(self, rules: list[FaultRule], seed: int | None = None) -> None:
        with self._lock:
            self._rules = list(rules)
            if seed is not None:
                self._rng.seed(seed)

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        self.set_rules([])

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]

    def pick(self, operation_key: str) -> FaultRule | None:
        """The rule that answers this call, if any; consumes one use of a counted rule."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(operation_key):
                    continue
                # Draw only for partial probabilities, so certain rules do not shift the seeded sequence.
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self._rules.remove(rule)
                return rule
            return None
