"""SQS ReceiveMessage long polling outside the sandbox lock.

Every request runs under the one lock the agent shares with moto (middleware.py). moto implements a long poll
(WaitTimeSeconds, or the queue's ReceiveMessageWaitTimeSeconds) by waiting inside the request, so a 20 s long poll
would hold the lock, and stop every other AWS call and the agent, for 20 s. Here the request is answered by moto
with WaitTimeSeconds 0, under the lock, and asked again when something was delivered (the event publisher
notifies ``wakeup``) or every ``RECHECK_S``, outside the lock, until a message is there or the wait is over; what
the client sees is SQS's long poll (SQS Developer Guide, "Amazon SQS short and long polling").
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from moto.sqs.models import sqs_backends

from .operations import BODY_ENVIRON_KEY, read_body

OPERATION = "sqs:ReceiveMessage"
# Looks again this often even without a notification (a message sent by another client).
RECHECK_S = 0.25

Call = Callable[[dict[str, Any]], tuple[str, list[tuple[str, str]], bytes]]


def receive(
    environ: dict[str, Any],
    call: Call,
    lock: threading.RLock,
    wakeup: threading.Condition,
    account: str,
    region: str,
) -> tuple[str, list[tuple[str, str]], bytes]:
    body = read_body(environ)
    is_json = "json" in environ.get("CONTENT_TYPE", "")
    request = _parse(body, is_json)
    wait = request.get("WaitTimeSeconds")
    if wait is None:
        wait = _queue_default_wait(request.get("QueueUrl"), account, region, lock)
    try:
        wait_s = max(0.0, min(float(wait), 20.0))
    except (TypeError, ValueError):
        wait_s = 0.0  # moto words the error for a bad value
    request["WaitTimeSeconds"] = 0
    short = json.dumps(request).encode() if is_json else urlencode(request, doseq=True).encode()
    deadline = time.monotonic() + wait_s
    while True:
        environ["wsgi.input"] = io.BytesIO(short)
        environ["CONTENT_LENGTH"] = str(len(short))
        environ[BODY_ENVIRON_KEY] = short
        with lock:
            status, headers, answer = call(environ)
        remaining = deadline - time.monotonic()
        if not status.startswith("200") or _has_messages(answer, is_json) or remaining <= 0:
            return status, headers, answer
        with wakeup:
            wakeup.wait(min(RECHECK_S, remaining))


def _parse(body: bytes, is_json: bool) -> dict[str, Any]:
    if is_json:
        try:
            value = json.loads(body or b"{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] if len(values) == 1 else values for key, values in form.items()}


def _has_messages(answer: bytes, is_json: bool) -> bool:
    if is_json:
        try:
            return bool(json.loads(answer or b"{}").get("Messages"))
        except (ValueError, AttributeError):
            return True  # let the client see what moto said
    return b"<Message>" in answer


def _queue_default_wait(url: Any, account: str, region: str, lock: threading.RLock) -> float:
    """The queue's ReceiveMessageWaitTimeSeconds, which applies when the request names no WaitTimeSeconds."""
    if not isinstance(url, str):
        return 0.0
    try:
        with lock:
            queue = sqs_backends[account][region].get_queue(url.rstrip("/").rsplit("/", 1)[-1])
            return float(getattr(queue, "receive_message_wait_time_seconds", 0) or 0)
    except Exception:
        return 0.0


def install() -> None:
    """moto checks each received message's retention through ``get_queue_attributes``, which computes every
    attribute of the queue, counting all its messages, three times per message: a receive from a queue holding a
    thousand events took half a second, under the lock. Same rule (a message older than the queue's
    MessageRetentionPeriod is not delivered), read from the queue itself."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def valid(backend: Any, queue_name: str, message: Any) -> bool:
        period = float(backend.get_queue(queue_name).message_retention_period)
        return period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = valid  # type: ignore[method-assign]
