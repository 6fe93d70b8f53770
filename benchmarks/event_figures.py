"""Figures of tracking: events for the scale benchmark (``--set tracking=events``).

- ECS reads in the steady state: ECS read calls while every job's task is active, counted per sweep interval
  (the target: at most one sweep, ceil(active / 100) DescribeTasks, per interval);
- latency: for each task state change, the real time from the sandbox agent publishing its event to the job's
  status first showing that ``status.aws.lastStatus``, p50 and p99 over every change seen both ways.
"""

from __future__ import annotations

import math
import statistics
from typing import Any


def steady_reads(samples: list[Any], read_times: list[float], sweep_s: float, jobs: int) -> dict[str, Any]:
    """ECS read calls inside the longest stretch of samples with every job's task active."""
    best: tuple[float, float] | None = None
    start = None
    for sample in samples:
        if sample.active >= jobs and jobs > 0:
            start = sample.t if start is None else start
            if best is None or sample.t - start > best[1] - best[0]:
                best = (start, sample.t)
        else:
            start = None
    if best is None or best[1] <= best[0]:
        return {"seconds": 0.0, "calls": None, "note": "no sample had every task active"}
    seconds = best[1] - best[0]
    calls = sum(1 for t in read_times if best[0] <= t <= best[1])
    sweeps = seconds / sweep_s
    bound = (math.ceil(sweeps) + 1) * math.ceil(jobs / 100)  # one more for the window's edges
    return {
        "seconds": round(seconds, 2),
        "calls": calls,
        "sweep_interval_s": sweep_s,
        "calls_per_sweep_interval": round(calls / sweeps, 3) if sweeps else None,
        "bound_calls": bound,
        "within_bound": calls <= bound,
    }


def latency(published: dict[tuple[str, str], float], written: dict[tuple[str, str], float]) -> dict[str, Any]:
    """Seconds from an event's publication to the status write showing its lastStatus."""
    delays = sorted(written[key] - published[key] for key in written.keys() & published.keys())
    if not delays:
        return {"changes": 0, "p50_s": None, "p99_s": None}
    p99 = delays[min(len(delays) - 1, math.ceil(0.99 * len(delays)) - 1)]
    return {
        "changes": len(delays),
        "p50_s": round(statistics.median(delays), 3),
        "p99_s": round(p99, 3),
        "max_s": round(delays[-1], 3),
    }
