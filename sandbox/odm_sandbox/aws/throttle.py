"""ECS's per-account request token buckets, so that the operator meets throttling here before it meets it on
AWS.

ECS throttles each account and Region with token buckets shared by categories of actions (request-throttling
page of the ECS developer guide; reference/ecs-odm-facts.md section 3). A bucket holds up to ``burst`` tokens,
refills at ``per_second`` and each call takes one; an empty bucket answers ThrottlingException. The operator's
RunTask pacing and its batched DescribeTasks polling are measured against exactly these numbers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Floating point refill (0.025 s x 40/s) may land a hair under a whole token; treat that as whole.
TOKEN_EPSILON = 1e-9


@dataclass(frozen=True)
class BucketSpec:
    burst: int
    per_second: float


# Category -> (bucket, actions). Actions not listed here (and not matched by LIST_PREFIX) are not throttled:
# the fact sheet gives no numbers for them and the operator does not call them in bulk.
ECS_CATEGORIES: dict[str, tuple[BucketSpec, tuple[str, ...]]] = {
    "task-launch": (BucketSpec(100, 40), ("RunTask", "StartTask", "StopTask", "ExecuteCommand")),
    "task-read": (BucketSpec(100, 20), ("DescribeTasks", "ListTasks", "DescribeContainerInstances")),
    "task-definition-write": (BucketSpec(20, 1), ("RegisterTaskDefinition", "DeregisterTaskDefinition")),
    "task-definition-delete": (BucketSpec(5, 1), ("DeleteTaskDefinitions",)),
    "task-definition-read": (BucketSpec(50, 20), ("DescribeTaskDefinition",)),
    "capacity-provider-write": (
        BucketSpec(10, 1),
        ("CreateCapacityProvider", "DeleteCapacityProvider", "UpdateCapacityProvider"),
    ),
    "capacity-provider-read": (BucketSpec(50, 20), ("DescribeCapacityProviders",)),
    "cluster-write": (
        BucketSpec(20, 1),
        ("CreateCluster", "DeleteCluster", "PutClusterCapacityProviders", "UpdateCluster"),
    ),
    "tagging": (BucketSpec(20, 10), ("TagResource", "UntagResource")),
}

# "DescribeTaskDefinition / List*" share a bucket; ListTasks has its own line in the table (task-read).
LIST_PREFIX = "List"
LIST_CATEGORY = "task-definition-read"

_ACTION_CATEGORY = {
    action: category for category, (_, actions) in ECS_CATEGORIES.items() for action in actions
}


def ecs_category(action: str) -> str | None:
    """The throttling category of an ECS action, or None when the sandbox does not throttle it."""
    category = _ACTION_CATEGORY.get(action)
    if category is None and action.startswith(LIST_PREFIX):
        return LIST_CATEGORY
    return category


class TokenBucket:
    """A thread-safe token bucket; ``clock`` returns seconds (monotonic), so tests can drive it."""

    def __init__(self, spec: BucketSpec, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self._clock = clock
        self._tokens = float(spec.burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.spec.burst), self._tokens + elapsed * self.spec.per_second)
        self._updated = now

    def try_take(self) -> bool:
        with self._lock:
            self._refill()
            if self._tokens + TOKEN_EPSILON >= 1.0:
                self._tokens = max(0.0, self._tokens - 1.0)
                return True
            return False

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens


class EcsThrottle:
    """One bucket per (region, category), created on first use; ``enabled=False`` lets everything through."""

    def __init__(self, enabled: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def allow(self, action: str, region: str = "") -> bool:
        if not self.enabled:
            return True
        category = ecs_category(action)
        if category is None:
            return True
        key = (region, category)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(ECS_CATEGORIES[category][0], self._clock)
        return bucket.try_take()

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
