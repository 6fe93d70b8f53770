"""Console output of tasks: ODM's log from CloudWatch Logs, cached per task, with a global call budget.

Every task keeps the lines read so far and the GetLogEvents forward token. A poll reads CloudWatch again only
when the task's lines are older than ``console_refresh_seconds``, the task is not finished-and-read-to-the-end,
and a token is left in the replica's bucket of ``logs_calls_per_second``. So however many tasks clients poll,
one replica makes at most ``rate * t + burst`` GetLogEvents calls in ``t`` seconds; a poll that finds no token
is answered from the cache (its lines arrive at a later poll). Lines only ever get appended, so the indexes
WebODM uses (``with_output=<lines it has>``) stay stable.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..api.types import FINISHED_PHASES
from ..aws.nodeodm.console_logs import ConsoleLogs

# GetLogEvents returns at most 10,000 events (1 MB) per call.
EVENTS_PER_CALL = 10_000
# NodeODM strips ANSI colour codes from the console (ODM prints none when no_ansiesc is set, but an image that
# ignores it must not put escape codes in WebODM's console).
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; ``clock`` injectable for tests."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.at = burst, clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class _Entry:
    stream: str
    lines: list[str] = field(default_factory=list)
    token: str | None = None
    read_at: float = float("-inf")
    complete: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Console:
    def __init__(
        self,
        logs: ConsoleLogs,
        calls_per_second: float,
        refresh_seconds: float,
        max_tasks: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.logs = logs
        self.bucket = TokenBucket(calls_per_second, max(1.0, calls_per_second), clock)
        self.refresh_seconds = refresh_seconds
        self.max_tasks = max_tasks
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.calls = 0

    async def lines(self, job: dict[str, Any]) -> list[str]:
        """The task's console lines so far (the job's current ODM log stream)."""
        status = job.get("status") or {}
        aws = status.get("aws") or {}
        group, stream = aws.get("logGroup"), aws.get("logStream")
        if not group or not stream:
            return []
        key = job["metadata"]["uid"]
        entry = self._entries.get(key)
        if entry is None or entry.stream != stream:
            entry = _Entry(stream)
            self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_tasks:
            self._entries.popitem(last=False)
        finished = status.get("phase") in FINISHED_PHASES
        async with entry.lock:
            due = self.clock() - entry.read_at >= self.refresh_seconds
            if not entry.complete and due and self.bucket.take():
                await self._read(entry, group, finished)
        return entry.lines

    async def _read(self, entry: _Entry, group: str, finished: bool) -> None:
        self.calls += 1
        try:
            page = await asyncio.to_thread(
                self.logs.read_forward, group, entry.stream, entry.token, EVENTS_PER_CALL
            )
        except Exception:  # best effort: the cached lines are served, the next poll tries again
            return
        entry.read_at = self.clock()
        for line in page.lines:
            entry.lines.extend(ANSI.sub("", line).splitlines() or [""])
        got_all = len(page.lines) < EVENTS_PER_CALL
        if got_all and finished and not page.missing:
            entry.complete = True  # a finished task's log is read to the end: no more calls for it
        entry.token = page.next_token
