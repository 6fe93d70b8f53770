"""WSGI middleware in front of moto: counts, injects faults, throttles, serialises and corrects ECS.

It sits in the same process as moto's app rather than in a separate proxy, so the simulated agent can share
one lock with it: a request runs under the lock, so the agent never mutates moto's objects while moto
serialises or iterates them. Order per request: count it, then a matching fault rule answers, then ECS's token
buckets may answer ThrottlingException, and only then does moto see it.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends

from . import autoscaling_fix, ecs_responses, rules, sqs_long_poll
from .counters import CallCounters
from .ecs_backend import EcsBackendPatches
from .errors import error_response
from .faults import FaultInjector
from .idempotency import RunTaskTokens
from .operations import BODY_ENVIRON_KEY, identify, read_body
from .throttle import EcsThrottle

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# ECS's answer when a token bucket is empty (HTTP 400, JSON protocol).
THROTTLING_CODE = "ThrottlingException"
THROTTLING_MESSAGE = "Rate exceeded"
THROTTLING_STATUS = 400

# ECS actions whose request body the sandbox reads to answer or correct them (ecs_responses.py).
ECS_ACTIONS_READ = frozenset(
    {
        "DescribeTasks",
        "ListTasks",
        "RunTask",
        "RegisterTaskDefinition",
        "PutClusterCapacityProviders",
        "CreateCluster",
    }
)
CREATE_GROUP = "autoscaling:CreateAutoScalingGroup"
JSON_CONTENT_TYPE = [("Content-Type", "application/x-amz-json-1.1")]

MOTO_API_PREFIX = "/moto-api"
MOTO_RESET_PATH = "/moto-api/reset"


class SandboxMiddleware:
    def __init__(
        self,
        app: WsgiApp,
        *,
        lock: threading.RLock,
        counters: CallCounters,
        throttle: EcsThrottle,
        faults: FaultInjector,
        ecs_patches: EcsBackendPatches,
        run_task_tokens: RunTaskTokens,
        on_reset: Callable[[], None] | None = None,
        default_region: str = "us-east-1",
        sqs_wakeup: threading.Condition | None = None,
    ) -> None:
        self.app = app
        self.sqs_wakeup = sqs_wakeup or threading.Condition()  # notified when events reach SQS
        self.default_region = default_region
        self.lock = lock
        self.counters = counters
        self.throttle = throttle
        self.faults = faults
        self.ecs_patches = ecs_patches
        self.run_task_tokens = run_task_tokens
        self.on_reset = on_reset

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(MOTO_API_PREFIX):
            if path == MOTO_RESET_PATH and environ.get("REQUEST_METHOD") == "POST" and self.on_reset:
                self.on_reset()
                return self._answer(start_response, "200 OK", [("Content-Type", "application/json")],
                                    json.dumps({"status": "ok"}).encode())  # fmt: skip
            return self._forward(environ, start_response)

        op = identify(environ)
        self.counters.record_call(op.key)
        head = environ.get("REQUEST_METHOD") == "HEAD"
        rule = self.faults.pick(op.key)
        if rule is not None:
            self.counters.record_fault(op.key)
            error = error_response(op.protocol, op.service, rule.code, rule.message, rule.status, head)
            return self._answer(start_response, error.status_line, error.headers, error.body)
        if op.service == "ecs" and not self.throttle.allow(op.name, op.region):
            self.counters.record_throttled(op.key)
            error = error_response(
                op.protocol, op.service, THROTTLING_CODE, THROTTLING_MESSAGE, THROTTLING_STATUS
            )
            return self._answer(start_response, error.status_line, error.headers, error.body)
        if op.key == autoscaling_fix.OPERATION:
            body = read_body(environ)
            region = op.region or self.default_region
            with self.lock:
                status, headers, body = autoscaling_fix.update_keeping_policy(
                    body, region, lambda: self._call(environ)
                )
            return self._answer(start_response, status, headers, body)
        if op.key == sqs_long_poll.OPERATION:  # a long poll must not hold the lock (sqs_long_poll.py)
            region = op.region or self.default_region
            answer = sqs_long_poll.receive(
                environ, self._call, self.lock, self.sqs_wakeup, DEFAULT_ACCOUNT_ID, region
            )
            return self._answer(start_response, *answer)
        if op.key == CREATE_GROUP:
            with self.lock:
                refusal = rules.create_auto_scaling_group(
                    read_body(environ), op.region or self.default_region
                )
            if refusal is not None:
                return self._refuse(start_response, op, refusal)
        if op.service != "ecs":
            return self._forward(environ, start_response)
        return self._ecs(op.name, op.region or self.default_region, environ, start_response)

    def _ecs(
        self, action: str, region: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """ECS through the backend patches, with the answers the sandbox writes itself."""
        request_body = read_body(environ) if action in ECS_ACTIONS_READ else b""
        with self.lock:
            backend = ecs_backends[DEFAULT_ACCOUNT_ID][region]
            self.ecs_patches.ensure(backend)
            if action in ECS_ACTIONS_READ:
                refusal = rules.ecs_request(action, _json(request_body) or {}, backend)
                if refusal is not None:
                    return self._refuse(start_response, identify(environ), refusal)
            if action == "DescribeTasks":
                answer = ecs_responses.describe_tasks(backend, request_body)
                if answer is not None:
                    return self._answer(start_response, "200 OK", *answer)
            run_task = _json(request_body) if action == "RunTask" else None
            filled = rules.run_task_defaults(run_task, region) if run_task is not None else None
            if filled is not None:
                run_task = filled
                _replace_body(environ, json.dumps(filled).encode())
            if run_task is not None:
                known = self.run_task_tokens.lookup(region, run_task, backend)
                if known is not None:
                    return self._known_token(start_response, *known)
                self.ecs_patches.placement = list(run_task.get("placementConstraints") or [])
            status, headers, body = self._call(environ)
            if status.startswith("200"):
                self.counters.record_accepted(f"ecs:{action}")
            if run_task is not None and status.startswith("200"):
                self.run_task_tokens.remember(region, run_task, body)
        if action == "ListTasks" and status.startswith("200"):
            body = ecs_responses.page_list_tasks(request_body, body)
        return self._answer(start_response, status, headers, body)

    def _refuse(self, start_response: Callable[..., Any], op: Any, refusal: rules.Refusal) -> Iterable[bytes]:
        error = error_response(op.protocol, op.service, refusal.code, refusal.message, refusal.status)
        return self._answer(start_response, error.status_line, error.headers, error.body)

    def _known_token(self, start_response: Callable[..., Any], outcome: str, body: bytes) -> Iterable[bytes]:
        if outcome == "replay":
            return self._answer(start_response, "200 OK", list(JSON_CONTENT_TYPE), body)
        headers = [*JSON_CONTENT_TYPE, ("x-amzn-ErrorType", "ConflictException")]
        return self._answer(start_response, "400 Bad Request", headers, body)

    def _forward(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self.lock:
            status, headers, body = self._call(environ)
        return self._answer(start_response, status, headers, body)

    def _call(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run moto's app to completion (body included) so nothing of it runs outside the lock."""
        captured: dict[str, Any] = {}

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda chunk: None

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return captured["status"], captured["headers"], body

    @staticmethod
    def _answer(
        start_response: Callable[..., Any], status: str, headers: list[tuple[str, str]], body: bytes
    ) -> Iterable[bytes]:
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]


def _replace_body(environ: dict[str, Any], body: bytes) -> None:
    """What moto reads instead of the client's body (ECS's defaults filled in)."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ[BODY_ENVIRON_KEY] = body


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
