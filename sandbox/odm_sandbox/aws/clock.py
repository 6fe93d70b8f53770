"""Accelerated time for the simulated ECS agent.

ODM runs for hours; tests and demos cannot wait that long. The agent schedules everything in simulated seconds
that pass ``time_scale`` times faster than real ones. Timestamps that AWS would show (task ``createdAt``, log
event times) are the *real* wall-clock moments at which the simulated events happen, so they agree with the
clocks of the operator and of the Kubernetes API and always lie in the past: only durations are compressed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class SimClock:
    def __init__(
        self,
        time_scale: float,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.time_scale = time_scale
        self._monotonic = monotonic
        self._real_start = monotonic()
        self._wall_start = wall()

    def now(self) -> float:
        """Simulated seconds since the clock started."""
        return (self._monotonic() - self._real_start) * self.time_scale

    def wall_seconds(self, sim_s: float) -> float:
        """The Unix time at which simulated second ``sim_s`` happens."""
        return self._wall_start + sim_s / self.time_scale

    def wall(self, sim_s: float) -> datetime:
        return datetime.fromtimestamp(self.wall_seconds(sim_s), tz=UTC)

    def wall_ms(self, sim_s: float) -> int:
        return int(self.wall_seconds(sim_s) * 1000)

    def real_seconds(self, sim_s: float) -> float:
        """How long ``sim_s`` simulated seconds take in real time."""
        return sim_s / self.time_scale
