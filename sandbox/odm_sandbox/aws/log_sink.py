"""Container log lines, buffered per stream and written to moto's CloudWatch Logs backend once per agent tick.

The awslogs driver creates nothing by itself unless asked, but an ODM job whose log group is missing is not
what the sandbox is meant to test, so groups and streams are created on first write. Writing once per tick
keeps the cost proportional to the lines produced, not to the number of tasks.
"""

from __future__ import annotations

from collections import defaultdict

from moto.core import DEFAULT_ACCOUNT_ID
from moto.logs.models import logs_backends

Target = tuple[str, str, str]  # (region, log group, log stream)


class LogSink:
    def __init__(self) -> None:
        self._pending: dict[Target, list[tuple[int, str]]] = defaultdict(list)

    def write(self, target: Target, timestamp_ms: int, message: str) -> None:
        self._pending[target].append((timestamp_ms, message))

    def flush(self) -> None:
        """Write what was buffered; a failing stream does not hold back the others (its error is raised)."""
        pending, self._pending = self._pending, defaultdict(list)
        first_error: Exception | None = None
        for target, lines in pending.items():
            try:
                self._write(target, lines)
            except Exception as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    @staticmethod
    def _write(target: Target, lines: list[tuple[int, str]]) -> None:
        region, group, stream = target
        backend = logs_backends[DEFAULT_ACCOUNT_ID][region]
        if group not in backend.groups:
            backend.create_log_group(group, {})
        if stream not in backend.groups[group].streams:
            backend.create_log_stream(group, stream)
        lines.sort(key=lambda line: line[0])
        backend.put_log_events(
            group, stream, [{"timestamp": ts, "message": message} for ts, message in lines]
        )

    def clear(self) -> None:
        self._pending.clear()
