"""Kubernetes Events about jobs, posted from a queue by one background thread.

An Event is best effort and nothing waits for it, so a reconcile pass only enqueues it: a burst of a thousand
new jobs does not spend a round trip per phase change in the threads that start tasks. The queue is bounded;
when the API server cannot keep up, the newest events are dropped (and counted in the log), never the passes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from ..plan.status import now_rfc3339

log = logging.getLogger(__name__)

EventFn = Callable[[dict[str, Any], str, str, str], None]
PostFn = Callable[..., None]  # KubeWriter.event: (body, kind, reason, message, at=RFC 3339 time)
# Ten thousand pending events is minutes of a busy operator's phase changes; memory stays a few MB.
MAX_PENDING = 10_000
STOP_TIMEOUT_SECONDS = 5.0


class EventPoster:
    def __init__(self, post: PostFn, max_pending: int = MAX_PENDING):
        self._post = post
        self._queue: queue.Queue[tuple[dict[str, Any], str, str, str, str] | None] = queue.Queue(max_pending)
        self._thread = threading.Thread(target=self._run, name="odm-events", daemon=True)
        self.dropped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Post what is queued (for a few seconds at most), then end the thread."""
        try:
            self._queue.put(None, timeout=STOP_TIMEOUT_SECONDS)
        except queue.Full:
            return
        self._thread.join(timeout=STOP_TIMEOUT_SECONDS)

    def __call__(self, body: dict[str, Any], kind: str, reason: str, message: str) -> None:
        meta = body["metadata"]
        slim = {"metadata": {k: meta[k] for k in ("name", "namespace", "uid") if k in meta}}
        try:
            self._queue.put_nowait((slim, kind, reason, message, now_rfc3339()))
        except queue.Full:
            self.dropped += 1
            log.warning(
                "Dropped an event (queue full) job=%s/%s reason=%s",
                meta.get("namespace"),
                meta.get("name"),
                reason,
            )

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            body, kind, reason, message, at = item
            try:
                self._post(body, kind, reason, message, at=at)
            except Exception:  # best effort: a failed post never ends the thread
                log.exception("Posting an event failed")
