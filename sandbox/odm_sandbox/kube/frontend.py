"""The HTTP-facing handler: kmock's `KubernetesEmulator`, parsing requests and passing them to `ApiServer`.

Keeping kmock as the handler keeps its request log and its DSL available to tests (`emulator.kmock['get
/version'] << {...}` still overrides a response before any state changes). What kmock does not do well enough
for a real API server is replaced here: its path parser fails on `/api/v1/namespaces`, it parses every body
twice, and it keeps every request forever while re-filtering the whole log on each new request (200 objects
took 70 s), so the log is trimmed to the last few hundred requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp.web
import attrs
import kmock
from kmock._internal import apps, enums, parsing, rendering

from .store import Store

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


@attrs.define(kw_only=True)
class KmockFrontend(kmock.KubernetesEmulator):
    """kmock's handler, with every request that no test reaction claims passed to the `ApiServer`.

    Requests are parsed here rather than by kmock (whose path parser fails on `/api/v1/namespaces`), into
    kmock's own `Request` with the Kubernetes fields filled in, so kmock's filters work on them.
    """

    api: ApiServer
    history_limit: int = 200

    def __attrs_post_init__(self) -> None:
        pass  # no stateless fallbacks: ApiServer answers everything a test reaction does not

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw_request.read()
        request = self._parse(raw_request, body)
        self._requests.append(request)
        if len(self._requests) > 2 * self.history_limit:
            del self._requests[: -self.history_limit]
        if self._payloads:
            try:
                return await apps.RawHandler._handle(self, request)
            except NotImplementedError:
                pass  # no reaction matched: serve it as the API server
            except rendering.StreamingError as exc:
                return exc.args[0]
        return await self.api.handle(request)

    def _parse(self, raw: aiohttp.web.BaseRequest, body: bytes) -> rendering.Request:
        text = body.decode("utf-8", errors="replace")
        data = None
        if body and "json" in (raw.headers.get("Content-Type") or "application/json"):
            try:
                data = json.loads(body)
            except ValueError:
                data = None
        k8s = K8sPath.parse(raw.path)
        query = dict(raw.query)
        action = resource = None
        if k8s is not None and k8s.plural is not None:
            resource = kmock.resource(k8s.group, k8s.version, k8s.plural)
            parsed = parsing.ParsedPath(k8s.group, k8s.version, k8s.plural, k8s.namespace, k8s.name)
            action = parsing.guess_k8s(parsed, enums.method(raw.method), query)
        return rendering.Request(
            id=len(self._requests),
            raw_request=raw,
            url=raw.url,
            method=raw.method,
            params=query,
            headers=dict(raw.headers),
            cookies=dict(raw.cookies),
            body=body,
            text=text,
            data=data,
            action=action,
            resource=resource,
            namespace=k8s.namespace if k8s else None,
            name=k8s.name if k8s else None,
            subresource=(k8s.subresource or None) if k8s else None,
        )

    @property
    def objects(self) -> Store:  # type: ignore[override]
        return self.api.store
