"""Passes that failed with an AWS error retried without counting (TransientError): counted per job and shown in
its status after a few in a row (plan/aws_retries.py decides what the status says)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from .. import metrics
from ..aws.errors import AwsCallError
from ..plan import aws_retries
from ..plan.status import FINISHED, now_rfc3339
from .errors import TransientError
from .job_writer import JobWriter
from .store import JobStore

log = logging.getLogger(__name__)


class AwsRetrying:
    def __init__(self, store: JobStore, writer: JobWriter, limit: int):
        self.store = store
        self.writer = writer
        self.limit = limit
        self._lock = threading.Lock()
        self._failed: dict[str, int] = {}  # uid -> passes failed in a row by errors retried without counting
        self._shown: set[str] = set()  # uids showing AwsRetrying=True

    def failed(self, body: dict[str, Any], exc: TransientError) -> None:
        """Count the job's failed passes in a row and show them."""
        uid, cause = body["metadata"]["uid"], exc.__cause__
        operation = cause.operation if isinstance(cause, AwsCallError) else "AWS"
        code = cause.code if isinstance(cause, AwsCallError) else type(cause or exc).__name__
        with self._lock:
            tries = self._failed[uid] = self._failed.get(uid, 0) + 1
        if not aws_retries.should_write(tries, self.limit):
            return
        self._show(uid, True)
        status = self.store.status(body)
        if status.get("phase") in FINISHED:
            return
        stamp, generation = now_rfc3339(datetime.now(UTC)), body["metadata"].get("generation")
        new = aws_retries.retrying(status, operation, code, tries, str(exc), self.limit, stamp, generation)
        try:
            self.writer.write(body, status, new)
        except Exception as write_error:  # the API server may be the trouble; the pass is retried anyway
            log.warning(
                "Writing the AwsRetrying condition failed job=%s: %s", body["metadata"]["name"], write_error
            )

    def succeeded(self, body: dict[str, Any]) -> None:
        """A pass went through: the condition turns False if it was shown."""
        uid = body["metadata"]["uid"]
        with self._lock:
            tries = self._failed.pop(uid, 0)
        if tries >= aws_retries.SHOW_AFTER:
            self._show(uid, False)
            status = self.store.status(body)
            stamp = now_rfc3339(datetime.now(UTC))
            self.writer.write(
                body, status, aws_retries.recovered(status, stamp, body["metadata"].get("generation"))
            )

    def forget(self, uid: str) -> None:
        with self._lock:
            self._failed.pop(uid, None)
        self._show(uid, False)

    def _show(self, uid: str, retrying: bool) -> None:
        with self._lock:
            (self._shown.add if retrying else self._shown.discard)(uid)
            metrics.AWS_RETRYING.set(len(self._shown))
