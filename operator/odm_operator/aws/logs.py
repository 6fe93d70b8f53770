"""CloudWatch Logs gateway: the job log group exists before the first task writes to it."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from .ecs import aws_call
from .errors import AwsCallError

# Logs of finished jobs are kept for a month unless an admin sets another retention on the group.
DEFAULT_RETENTION_DAYS = 30


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
