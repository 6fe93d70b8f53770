"""The web console's routes on the gateway: the static page at ``/`` and a small JSON API under ``/api/``.

The page (web/) is plain HTML, JS and CSS, public like any login page: it holds no data. Every ``/api/`` route
sits behind the gateway's token check (the header ``Authorization: Bearer <token>``, so the token stays out of
URLs and access logs). Uploads go through the gateway's own NodeODM chunked flow; this module only reads ODMJobs
(every one of the gateway's namespace, not just NodeODM tasks), follows their log through the gateway's console
cache, hands out short-lived presigned product links, and suspends or deletes ODMJobs that are not NodeODM
tasks (those are cancelled and removed through the NodeODM routes, with their semantics).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from kubernetes.client.rest import ApiException
from pydantic import ValidationError

from .. import API_GROUP, API_VERSION, PLURAL
from ..api.types import Resources
from ..aws.nodeodm.staging import S3Prefix
from . import nodeodm as n
from . import web_view as v

if TYPE_CHECKING:
    from .app import Gateway

WEB = Path(__file__).parent / "web"
PUBLIC_PATHS = ("/", "/web/")
# Product links live this long (or the gateway's presign_seconds if shorter): the page fetches fresh ones when it
# opens and every minute, so a link copied out of the page stops working soon after.
PRODUCT_LINK_SECONDS = 300
# The page's code and styles come only from the gateway itself; nothing is loaded from elsewhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def is_public(path: str) -> bool:
    """The page and its static files need no token (the login form must load); everything else does."""
    return path == "/" or path.startswith("/web/")


# ----- submit extensions (init fields NodeODM clients never send) ----------------------------------------------


def submit_fields(fields: dict[str, str]) -> dict[str, Any]:
    """The console's extra /task/new/init fields: ``resources`` (JSON: cpu, memory, gpu, disk; omitted: sized
    from the dataset) and ``spot`` (true|false). NodeODM clients do not send them, so their tasks are unchanged."""
    extra: dict[str, Any] = {}
    raw = fields.get("resources")
    if raw:
        try:
            extra["resources"] = Resources.model_validate(json.loads(raw)).model_dump(
                by_alias=True, exclude_none=True
            )
        except json.JSONDecodeError as exc:
            raise n.BadRequest(f"Invalid resources: not JSON ({exc.msg})") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"resources.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise n.BadRequest(f"Invalid resources: {problems} (cpu and memory are required)") from exc
    spot = fields.get("spot", "")
    if spot:
        if spot.lower() not in ("true", "false"):
            raise n.BadRequest(f"Invalid spot: expected true or false, got {spot!r}")
        extra["spot"] = spot.lower() == "true"
    return extra


def apply_submit_fields(spec: dict[str, Any], session: dict[str, Any]) -> None:
    """Put the console's resources and spot choice into the new ODMJob's spec (over the gateway's defaults)."""
    if session.get("resources"):
        spec["resources"] = dict(session["resources"])
    if "spot" in session:
        spec["capacity"] = {**spec.get("capacity", {}), "spot": session["spot"]}


# ----- routes -----------------------------------------------------------------------------------------------


class WebApi:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.custom = (
            gateway.store.custom
        )  # the gateway's Kubernetes access (its Role: ODMJobs in its namespace)
        self.namespace = gateway.settings.namespace
        self.refresh_seconds = gateway.settings.task_list_refresh_seconds
        self._snapshot: list[dict[str, Any]] = []
        self._taken = float("-inf")
        self._lock = asyncio.Lock()

    def register(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_static("/web/", WEB, append_version=False)
        app.router.add_get("/api/jobs", self.jobs)
        app.router.add_get("/api/jobs/{name}", self.job)
        app.router.add_get("/api/jobs/{name}/log", self.log)
        app.router.add_get("/api/jobs/{name}/products", self.products)
        app.router.add_post("/api/jobs/{name}/suspend", self.suspend)
        app.router.add_post("/api/jobs/{name}/resume", self.resume)
        app.router.add_post("/api/jobs/{name}/delete", self.delete)
        app.on_response_prepare.append(_headers)

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(WEB / "index.html")

    # ----- reading ----------------------------------------------------------------------------------------

    async def _jobs(self) -> list[dict[str, Any]]:
        """Every ODMJob of the namespace: one LIST reused for task_list_refresh_seconds, however many browsers
        poll (as the gateway's own task list does)."""
        async with self._lock:
            if time.monotonic() - self._taken >= self.refresh_seconds:
                answer = await asyncio.to_thread(
                    self.custom.list_namespaced_custom_object, API_GROUP, API_VERSION, self.namespace, PLURAL
                )
                self._snapshot = answer.get("items", [])
                self._taken = time.monotonic()
            return self._snapshot

    def invalidate(self) -> None:
        self._taken = float("-inf")

    async def _job(self, name: str) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(
                self.custom.get_namespaced_custom_object, API_GROUP, API_VERSION, self.namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                raise web.HTTPNotFound(
                    text=json.dumps({"error": f"ODMJob {name} not found in namespace {self.namespace}"}),
                    content_type="application/json",
                ) from exc
            raise

    async def jobs(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("fresh"):
            self.invalidate()  # the page just created or changed a job: show it at once
        try:
            body = v.page(
                await self._jobs(),
                request.query.get("phase") or None,
                _int(request.query.get("page", "1"), "page"),
                _int(request.query.get("per_page", str(v.DEFAULT_PER_PAGE)), "per_page"),
            )
        except v.BadQuery as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return _cached(request, {"namespace": self.namespace, **body})

    async def job(self, request: web.Request) -> web.StreamResponse:
        return _cached(request, v.detail(await self._job(request.match_info["name"])))

    async def log(self, request: web.Request) -> web.Response:
        """ODM's log lines from ``line`` on (negative: the last lines), through the gateway's console cache (so
        the page costs CloudWatch no more than a WebODM poll does), and ``total``, the next line to ask for."""
        job = await self._job(request.match_info["name"])
        lines = await self.gateway.console.lines(job)
        start = _int(request.query.get("line", "0"), "line")
        return web.json_response({"lines": n.slice_lines(lines, start), "total": len(lines)})

    async def products(self, request: web.Request) -> web.Response:
        """Presigned GET links of the job's products, signed locally (no S3 call), short-lived."""
        job = await self._job(request.match_info["name"])
        seconds = min(PRODUCT_LINK_SECONDS, self.gateway.settings.presign_seconds)
        links = []
        for key, label, uri in v.products((job.get("status") or {}).get("outputs")):
            where = S3Prefix.parse(uri)  # an object's URI: its "prefix" is the key plus a slash
            object_key = where.prefix.rstrip("/")
            filename = object_key.rsplit("/", 1)[-1] or key
            url = self.gateway.staging.presign_get(where.bucket, object_key, seconds, filename)
            links.append({"key": key, "label": label, "file": filename, "url": url})
        return web.json_response({"products": links, "expiresIn": seconds})

    # ----- actions on ODMJobs that are not NodeODM tasks ----------------------------------------------------

    async def _plain(self, name: str) -> dict[str, Any]:
        job = await self._job(name)
        if (job["metadata"].get("labels") or {}).get(n.LABEL_TASK):
            raise web.HTTPConflict(
                text=json.dumps(
                    {"error": f"{name} is a NodeODM task: use /task/cancel, /task/restart, /task/remove"}
                ),
                content_type="application/json",
            )
        return job

    async def _patch_suspend(self, name: str, suspend: bool) -> web.Response:
        await self._plain(name)
        await asyncio.to_thread(
            self.custom.patch_namespaced_custom_object,
            API_GROUP,
            API_VERSION,
            self.namespace,
            PLURAL,
            name,
            {"spec": {"suspend": suspend}},  # the one field of an accepted ODMJob that may change
        )
        self.invalidate()
        return web.json_response({"success": True})

    async def suspend(self, request: web.Request) -> web.Response:
        """Cancel: spec.suspend=true; the operator stops the ECS task at once."""
        return await self._patch_suspend(request.match_info["name"], True)

    async def resume(self, request: web.Request) -> web.Response:
        """Restart of a suspended ODMJob: spec.suspend=false (a finished one cannot run again: its spec is
        immutable; submit it anew)."""
        return await self._patch_suspend(request.match_info["name"], False)

    async def delete(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self._plain(name)
        await self.gateway.store.delete(name)  # the gateway's own delete (404 is success); same namespace
        self.invalidate()
        return web.json_response({"success": True})


def _cached(request: web.Request, value: Any) -> web.Response:
    """A JSON answer with an ETag; 304 without a body when the client already has it (If-None-Match)."""
    body = v.dumps(value)
    tag = v.etag(body)
    if tag in (t.strip() for t in request.headers.get("If-None-Match", "").split(",")):
        return web.Response(status=304, headers={"ETag": tag})
    return web.Response(body=body, content_type="application/json", headers={"ETag": tag})


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers of the console's own answers (the NodeODM routes' answers are left as they are)."""
    if is_public(request.path):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Cache-Control"] = "no-cache"  # revalidated: a gateway upgrade shows at once
    elif request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-cache, private"
    else:
        return
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name} must be an integer, got {value!r}"}),
            content_type="application/json",
        ) from exc
