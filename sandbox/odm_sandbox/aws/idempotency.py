"""RunTask ``clientToken`` idempotency, which moto ignores (same token, two tasks).

ECS scopes a token to the cluster: the same token with the same parameters returns the original result, with
different parameters it answers ConflictException listing the existing task ARNs. A token lives 24 hours, or
the task's lifetime plus an hour if that is shorter (ECS_Idempotency in the API reference; facts section 1).
The operator derives its token from the job uid and attempt, so this is what stops a retried RunTask from
starting a second ODM run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A token is remembered this long (simulated seconds) at most.
TOKEN_LIFETIME_S = 24 * 3600.0


@dataclass
class _Remembered:
    fingerprint: str
    created_at: float
    task_arns: tuple[str, ...]
    response: bytes


class RunTaskTokens:
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._tokens: dict[tuple[str, str, str], _Remembered] = {}

    def lookup(self, region: str, request: dict[str, Any], backend: Any) -> tuple[str, bytes] | None:
        """("replay", original body) or ("conflict", error body) for a known token; None otherwise."""
        key = self._key(region, request)
        if key is None:
            return None
        remembered = self._tokens.get(key)
        if remembered is None:
            return None
        if self._expired(remembered, backend, key[1]):
            del self._tokens[key]
            return None
        if remembered.fingerprint != _fingerprint(request):
            body = {
                "__type": "ConflictException",
                "message": "The specified client token has already been used with different parameters.",
                "resourceIds": list(remembered.task_arns),
            }
            return "conflict", json.dumps(body).encode()
        return "replay", remembered.response

    def remember(self, region: str, request: dict[str, Any], response: bytes) -> None:
        key = self._key(region, request)
        if key is None:
            return
        arns = tuple(task.get("taskArn", "") for task in json.loads(response).get("tasks", []))
        self._tokens[key] = _Remembered(_fingerprint(request), self._now(), arns, response)

    def clear(self) -> None:
        self._tokens.clear()

    @staticmethod
    def _key(region: str, request: dict[str, Any]) -> tuple[str, str, str] | None:
        token = request.get("clientToken")
        if not token:
            return None
        cluster = str(request.get("cluster") or "default").rsplit("/", 1)[-1]
        return region, cluster, token

    def _expired(self, remembered: _Remembered, backend: Any, cluster: str) -> bool:
        if self._now() - remembered.created_at > TOKEN_LIFETIME_S:
            return True
        tasks = backend.tasks.get(cluster, {})
        # Forgotten tasks (stopped over an hour ago) take their token with them.
        return any(arn not in tasks for arn in remembered.task_arns)


def _fingerprint(request: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in request.items() if k != "clientToken"}, sort_keys=True)
