"""The HTTP-facing handler: parses each request once and passes it to `ApiServer`.

kmock (0.8) was the handler until issue 15, and was dropped: it was reached through its private modules
(`kmock._internal`: apps, enums, parsing, rendering), its path parser failed on `/api/v1/namespaces`, it parsed
every body twice and re-filtered its whole request log on every request (200 objects took 70 s), so only its
response-override DSL was left in use, by one test. What the emulator needs from a handler is this file: an
aiohttp `Server` callable, a request parsed once (path, body, JSON), and a short request log for debugging.
Failures a test wants are injected before any state change by faults.py, which kmock's reactions could not do.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp.web

if TYPE_CHECKING:
    from .server import ApiServer


@dataclass(frozen=True)
class K8sPath:
    """A parsed API path: `/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>/<subresource>`."""

    group: str
    version: str
    rest: tuple[str, ...]
    namespace: str | None = None
    plural: str | None = None
    name: str | None = None
    subresource: str = ""

    @classmethod
    def parse(cls, path: str) -> K8sPath | None:
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        if not rest:
            return cls(group, version, ())
        namespace = None
        tail = rest
        # /api/v1/namespaces/<ns>/<plural>... is namespaced, except the namespace's own subresources
        if (
            tail[0] == "namespaces"
            and len(tail) >= 3
            and not (len(tail) == 3 and tail[2] in ("status", "finalize"))
        ):
            namespace, tail = tail[1], tail[2:]
        return cls(
            group,
            version,
            tuple(rest),
            namespace,
            tail[0],
            tail[1] if len(tail) > 1 else None,
            "/".join(tail[2:]),
        )


@dataclass(frozen=True)
class Request:
    """One request as the API server reads it: the aiohttp request, its body, and the body as text and JSON."""

    raw_request: aiohttp.web.BaseRequest
    body: bytes
    text: str
    data: Any  # the body parsed as JSON when it is JSON, else None


class Frontend:
    """The aiohttp handler: every request is parsed once and answered by the `ApiServer`."""

    def __init__(self, api: ApiServer, history_limit: int = 200):
        self.api = api
        self.requests: collections.deque[Request] = collections.deque(maxlen=history_limit)  # the last few

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw_request.read()
        request = _parse(raw_request, body)
        self.requests.append(request)
        return await self.api.handle(request)


def _parse(raw: aiohttp.web.BaseRequest, body: bytes) -> Request:
    data = None
    if body and "json" in (raw.headers.get("Content-Type") or "application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
    return Request(raw, body, body.decode("utf-8", errors="replace"), data)
