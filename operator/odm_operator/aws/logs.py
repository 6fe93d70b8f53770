"""CloudWatch Logs gateway: the job log group exists before the first task writes to it."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from .ecs import aws_call
from .errors import AwsCallError

# Logs of finished jobs are kept for a month unless an admin sets another retention on the group.
DEFAULT_RETENTION_DAYS = 30
# FilterLogEvents takes at most 100 stream names per call.
STREAMS_PER_CALL = 100
# Only ODM's stage lines are wanted, plus the two lines progress and outcome need that do not say "stage": the
# submodel count of a split run and Python's full-disk error (plan/progress.py). The service filters (``?`` is
# CloudWatch's OR of terms), so a verbose ODM log costs no transfer.
STAGE_FILTER = '?"stage" ?"submodels. Reconstructing" ?"No space left on device"'


class LogsGateway:
    def __init__(self, client: Any, tags: dict[str, str] | None = None):
        self.client = client
        self.tags = tags or {}
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def ensure_group(self, name: str) -> None:
        with self._lock:
            if name in self._known:
                return
            try:
                self.client.create_log_group(logGroupName=name, tags=self.tags)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                    raise AwsCallError("CreateLogGroup", exc) from exc
            else:
                with aws_call("PutRetentionPolicy"):
                    self.client.put_retention_policy(
                        logGroupName=name, retentionInDays=DEFAULT_RETENTION_DAYS
                    )
            self._known.add(name)

    def stage_lines(self, group: str, streams: list[str], start_ms: int) -> list[tuple[str, int, str]]:
        """(stream, timestamp, message) of the stage lines in ``streams`` since ``start_ms``, in calls of at most
        100 streams (plus pages when one call has more lines than fit in a response)."""
        events: list[tuple[str, int, str]] = []
        for first in range(0, len(streams), STREAMS_PER_CALL):
            token = None
            while True:
                kwargs = {
                    "logGroupName": group,
                    "logStreamNames": streams[first : first + STREAMS_PER_CALL],
                    "startTime": start_ms,
                    "filterPattern": STAGE_FILTER,
                }
                if token:
                    kwargs["nextToken"] = token
                with aws_call("FilterLogEvents"):
                    page = self.client.filter_log_events(**kwargs)
                events.extend(
                    (e["logStreamName"], e["timestamp"], e["message"]) for e in page.get("events", [])
                )
                token = page.get("nextToken")
                if not token:
                    break
        return events
