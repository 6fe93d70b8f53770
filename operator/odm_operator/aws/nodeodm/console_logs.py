"""CloudWatch Logs reads for the gateway: a task's ODM log, forward from where the last read stopped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..ecs import aws_call


@dataclass
class LogPage:
    lines: list[str]
    next_token: str | None  # where the next read starts (GetLogEvents nextForwardToken)
    missing: bool = False  # the stream does not exist (yet)


class ConsoleLogs:
    def __init__(self, client: Any):
        self.client = client

    def read_forward(self, group: str, stream: str, token: str | None, limit: int) -> LogPage:
        """One GetLogEvents call: up to ``limit`` events after ``token`` (from the start when None)."""
        kwargs: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startFromHead": True,
            "limit": limit,
        }
        if token:
            kwargs["nextToken"] = token
        try:
            with aws_call("GetLogEvents"):
                page = self.client.get_log_events(**kwargs)
        except Exception as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == (
                "ResourceNotFoundException"
            ):
                return LogPage([], token, missing=True)
            raise
        lines = [e["message"] for e in page.get("events", [])]
        return LogPage(lines, page.get("nextForwardToken") or token)
