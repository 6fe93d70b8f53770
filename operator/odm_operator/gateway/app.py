"""The NodeODM HTTP API (aiohttp): routes, authentication, and the task lifecycle over ODMJobs and S3.

Errors are HTTP 200 with ``{"error": ...}`` as NodeODM answers them (pyodm and WebODM read the body), except a
bad token (401, as ClusterODM answers) and unknown routes (404).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from aiohttp import web
from kubernetes.client.rest import ApiException

from ..aws.nodeodm.staging import S3Prefix, Staging
from ..settings import DEFAULT_ODM_IMAGE
from . import nodeodm as n
from .console import Console
from .fields import api_message, integer, text_field
from .jobs import job_manifest, session_fields
from .settings import GatewaySettings
from .store import TaskStore
from .submodels import Caller, caller_of, check_visible, mark, parent_of, parent_uid, visible
from .uploads import receive
from .web_api import WebApi, apply_submit_fields, is_public, submit_fields

log = logging.getLogger(__name__)
SESSION = "session.json"
ALL_ZIP = "all.zip"
CALLER = web.RequestKey(
    "caller", Caller
)  # who sent the request (the gateway's token or a split-merge parent's)


def _ok(value: Any) -> web.Response:
    return web.json_response(value)


def _error(message: str, no_retry: bool = False) -> web.Response:
    return web.json_response({"error": message, **({"noRetry": True} if no_retry else {})})


def _now_ms() -> int:
    return int(time.time() * 1000)


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        store: TaskStore,
        staging: Staging,
        console: Console,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.clock = clock  # wall clock (seconds): upload sessions expire by it
        self.store = store
        self.staging = staging
        self.console = console
        self.stage_root = S3Prefix.parse(settings.staging_uri)
        self.output_root = S3Prefix.parse(settings.output_uri)
        self._token = settings.token.get_secret_value()

    # ----- app -----------------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth, self._errors], client_max_size=1024**2)
        app.router.add_get("/info", self.info)
        app.router.add_get("/options", self.options)
        app.router.add_post("/task/new/init", self.new_init)
        app.router.add_post("/task/new/upload/{uuid}", self.new_upload)
        app.router.add_post("/task/new/commit/{uuid}", self.new_commit)
        app.router.add_post("/task/new", self.new_single)
        app.router.add_get("/task/list", self.task_list)
        app.router.add_get("/task/{uuid}/info", self.task_info)
        app.router.add_get("/task/{uuid}/output", self.task_output)
        app.router.add_get("/task/{uuid}/download/{asset}", self.download)
        app.router.add_post("/task/cancel", self.cancel)
        app.router.add_post("/task/remove", self.remove)
        app.router.add_post("/task/restart", self.restart)
        WebApi(self).register(app)  # the web console: / and /api/ (web_api.py)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not is_public(request.path):  # the console's page and static files hold no data
            given = request.query.get("token", "")
            bearer = request.headers.get("Authorization", "")
            if bearer.startswith("Bearer "):  # the console sends the token in a header, out of URLs and logs
                given = bearer[len("Bearer ") :]
            caller = caller_of(given, self._token)  # constant time: no token oracle
            if caller is None or (caller.parent and request.path.startswith("/api/")):
                return web.json_response({"error": "Invalid authentication token"}, status=401)
            request[CALLER] = caller
        return await handler(request)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except n.BadRequest as exc:
            return _error(str(exc), exc.no_retry)
        except web.HTTPException:
            raise
        except Exception as exc:  # S3 or Kubernetes trouble: a 500 (pyodm retries uploads on it), in JSON
            log.exception("Request failed method=%s path=%s", request.method, request.path)
            return web.json_response({"error": f"{type(exc).__name__}: {exc}"[:500]}, status=500)

    # ----- node ---------------------------------------------------------------------------------------------

    async def info(self, request: web.Request) -> web.Response:
        tasks = await self.store.tasks()
        active = sum(1 for job in tasks.values() if n.status_of(job)[0] in (n.QUEUED, n.RUNNING))
        image = self.settings.odm_image or DEFAULT_ODM_IMAGE
        return _ok(
            {
                "version": n.NODEODM_VERSION,
                "taskQueueCount": active,
                "maxImages": self.settings.max_images,
                "maxParallelTasks": self.settings.max_parallel_tasks,
                "engine": n.ENGINE,
                "engineVersion": image.rsplit(":", 1)[-1] if ":" in image else "",
                "totalMemory": None,
                "availableMemory": None,
                "cpuCores": None,
            }
        )

    async def options(self, request: web.Request) -> web.Response:
        return _ok(n.options_table())

    # ----- creating tasks -----------------------------------------------------------------------------------

    def _images(self, uuid: str) -> S3Prefix:
        return self.stage_root.child(uuid, "images")

    async def _new_uuid(self, request: web.Request) -> str:
        wanted = request.headers.get("set-uuid")
        if wanted is None:
            return str(uuidlib.uuid4())
        if not n.UUID_RE.match(wanted):
            raise n.BadRequest(f"Invalid set-uuid: {wanted!r} is not a UUID")
        wanted = wanted.lower()
        if await self.store.find(wanted, fresh=True) or await self._session(wanted):
            raise n.BadRequest(f"Invalid set-uuid: a task with UUID {wanted} already exists")
        return wanted

    async def _session(self, uuid: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(
            self.staging.get_json, self.stage_root.bucket, self.stage_root.child(uuid).key(SESSION)
        )

    async def _live_session(self, uuid: str, caller: Caller) -> dict[str, Any]:
        if not n.UUID_RE.match(uuid):
            raise n.BadRequest("Invalid uuid (not found)")
        session = await self._session(uuid)
        if session is None or not visible(session, caller):
            raise n.BadRequest("Invalid uuid (not found)")
        if self.clock() - session["startedAt"] > self.settings.upload_session_seconds:
            await self._discard(uuid)
            raise n.BadRequest(
                f"Upload session {uuid} expired (not committed within {self.settings.upload_session_seconds}s)"
            )
        return session

    async def _discard(self, uuid: str) -> None:
        await asyncio.to_thread(self.staging.delete_prefix, self.stage_root.child(uuid))

    async def new_init(self, request: web.Request) -> web.Response:
        fields = {k: str(v) for k, v in (await request.post()).items()}
        session = {**session_fields(fields, self.clock(), _now_ms()), **submit_fields(fields)}
        session["parent"] = request[CALLER].parent_ref
        uuid = await self._new_uuid(request)
        await asyncio.to_thread(
            self.staging.put_json, self.stage_root.bucket, self.stage_root.child(uuid).key(SESSION), session
        )
        return _ok({"uuid": uuid})

    async def new_upload(self, request: web.Request) -> web.Response:
        uuid = request.match_info["uuid"].lower()
        await self._live_session(uuid, request[CALLER])
        existing = await self._image_names(uuid)
        written: list[str] = []
        try:
            count = await self._receive_files(request, uuid, set(existing), written)
        except BaseException:
            # The request's new files go with it (a retried request starts clean); the session keeps the rest.
            fresh = [name for name in written if name not in existing]
            await asyncio.to_thread(self.staging.delete_keys, self._images(uuid), fresh)
            raise
        if count == 0:
            return _error("Need at least 1 file.", no_retry=True)
        return _ok({"success": True})

    async def _image_names(self, uuid: str) -> set[str]:
        keys = await asyncio.to_thread(self.staging.list_keys, self._images(uuid))
        return {key for key, _ in keys if n.route_upload(key).kind == "image"}

    async def _receive_files(
        self,
        request: web.Request,
        uuid: str,
        images: set[str],
        written: list[str],
        fields: dict[str, str] | None = None,
    ) -> int:
        """Stream every file part of the request to the task's staging prefix (recording the names in
        ``written``); text parts go to ``fields``. A file sent again (a retried upload) replaces itself and
        is counted once against maxImages."""
        reader = await request.multipart()
        files = 0
        while (part := await reader.next()) is not None:
            if part.filename is None:
                if fields is not None:
                    fields[part.name or ""] = await text_field(part)
                continue
            upload = n.route_upload(part.filename)
            if upload.kind == "image" and upload.stored_as not in images:
                images.add(upload.stored_as)
                limit = self.settings.max_images
                if limit is not None and len(images) > limit:
                    raise n.BadRequest(f"Too many images: this node takes at most {limit} (maxImages)")
            written.append(upload.stored_as)
            await receive(part, self.staging, self._images(uuid), self.settings.max_file_bytes)
            files += 1
        return files

    async def new_commit(self, request: web.Request) -> web.Response:
        uuid = request.match_info["uuid"].lower()
        caller = request[CALLER]
        existing = await self.store.find(uuid, fresh=True) if n.UUID_RE.match(uuid) else None
        if existing is not None and visible(existing, caller):
            return _ok({"uuid": uuid})  # a repeated commit (the first answer was lost)
        session = await self._live_session(uuid, caller)
        try:
            await self._create_job(uuid, session, len(await self._image_names(uuid)), caller)
        except n.BadRequest:
            await self._discard(uuid)  # nothing half-created: the session and its files go
            raise
        # The session ends: later uploads to it are refused; the images stay as the job's input.
        await asyncio.to_thread(
            self.staging.delete_key, self.stage_root.bucket, self.stage_root.child(uuid).key(SESSION)
        )
        return _ok({"uuid": uuid})

    async def new_single(self, request: web.Request) -> web.Response:
        uuid = await self._new_uuid(request)
        fields: dict[str, str] = {}
        try:
            images: set[str] = set()
            await self._receive_files(request, uuid, images, [], fields)
            session = {**session_fields(fields, self.clock(), _now_ms()), **submit_fields(fields)}
            await self._create_job(uuid, session, len(images), request[CALLER])
        except BaseException:
            await self._discard(uuid)
            raise
        return _ok({"uuid": uuid})

    async def _create_job(
        self, uuid: str, session: dict[str, Any], images: int, caller: Caller, run: int = 1
    ) -> None:
        if images == 0:
            raise n.BadRequest("Not enough images: a task needs at least 1 image")
        limit = self.settings.max_images
        if limit is not None and images > limit:
            raise n.BadRequest(f"Too many images: this node takes at most {limit} (maxImages)")
        body = self._manifest(uuid, session, images, run)
        mark(body, caller, await parent_uid(self.store, caller))
        try:
            await self.store.create(body)
        except ApiException as exc:
            if exc.status == 409:  # a commit repeated while the first was answering: the job exists
                return
            if exc.status in (400, 403, 422):  # the API server refused the ODMJob: say why, create nothing
                raise n.BadRequest(f"The task's ODMJob was refused: {api_message(exc)}") from exc
            raise
        log.info(
            "Task created uuid=%s job=%s/%s images=%d run=%d",
            uuid,
            body["metadata"]["namespace"],
            body["metadata"]["name"],
            images,
            run,
        )

    def _manifest(self, uuid: str, session: dict[str, Any], images: int, run: int) -> dict[str, Any]:
        body = job_manifest(
            self.settings,
            uuid,
            session,
            images,
            run,
            self._images(uuid),
            self.output_root.child(uuid, str(run)),
        )
        apply_submit_fields(body["spec"], session)  # the console's resources and spot (web_api.py)
        return body

    # ----- reading tasks ------------------------------------------------------------------------------------

    async def _job(self, uuid: str, caller: Caller) -> dict[str, Any]:
        job = await self.store.find(uuid.lower()) if n.UUID_RE.match(uuid) else None
        if job is None:
            raise n.BadRequest(f"{uuid} not found", no_retry=False)
        check_visible(job, caller, uuid)
        return job

    async def task_list(self, request: web.Request) -> web.Response:
        tasks = await self.store.tasks()
        mine = [uuid for uuid, job in tasks.items() if visible(job, request[CALLER])]
        return _ok([{"uuid": uuid} for uuid in sorted(mine)])

    async def task_info(self, request: web.Request) -> web.Response:
        job = await self._job(request.match_info["uuid"], request[CALLER])
        output = None
        if "with_output" in request.query:
            output = n.slice_lines(await self.console.lines(job), integer(request.query["with_output"]))
        return _ok(n.task_info(job, _now_ms(), output))

    async def task_output(self, request: web.Request) -> web.Response:
        job = await self._job(request.match_info["uuid"], request[CALLER])
        return _ok(n.slice_lines(await self.console.lines(job), integer(request.query.get("line", "0"))))

    async def download(self, request: web.Request) -> web.StreamResponse:
        job = await self._job(request.match_info["uuid"], request[CALLER])
        if request.match_info["asset"] != ALL_ZIP:
            return _error("Invalid asset")
        where = S3Prefix.parse(job["spec"]["output"]["s3Uri"])
        ready = n.status_of(job)[0] == n.COMPLETED and await asyncio.to_thread(
            self.staging.exists, where.bucket, where.key(ALL_ZIP)
        )
        if not ready:
            return _error("Asset not ready")
        url = self.staging.presign_get(
            where.bucket, where.key(ALL_ZIP), self.settings.presign_seconds, ALL_ZIP
        )
        raise web.HTTPFound(url)  # the bytes come from S3, never through the gateway

    # ----- actions ------------------------------------------------------------------------------------------

    async def _uuid_field(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = {k: str(v) for k, v in (await request.post()).items()}
        uuid = str(body.get("uuid") or "")
        if not uuid:
            raise n.BadRequest("uuid param missing")
        return uuid.lower(), body

    async def cancel(self, request: web.Request) -> web.Response:
        uuid, _ = await self._uuid_field(request)
        job = await self._job(uuid, request[CALLER])
        if n.status_of(job)[0] in (n.QUEUED, n.RUNNING):
            # spec.suspend is the one field of an ODMJob that may change: the operator stops the ECS task at
            # once (StopTask), and the annotation says the stop was a NodeODM cancel.
            await self.store.patch(
                job["metadata"]["name"],
                {"metadata": {"annotations": {n.ANN_CANCELED: "true"}}, "spec": {"suspend": True}},
            )
            log.info("Task canceled uuid=%s job=%s", uuid, job["metadata"]["name"])
        return _ok({"success": True})

    async def remove(self, request: web.Request) -> web.Response:
        uuid, _ = await self._uuid_field(request)
        caller = request[CALLER]
        jobs = await self.store.jobs_of(uuid, fresh=True) if n.UUID_RE.match(uuid) else []
        jobs = [job for job in jobs if visible(job, caller)]
        session = await self._session(uuid) if n.UUID_RE.match(uuid) else None
        session = session if visible(session, caller) else None
        if not jobs and session is None:
            return _ok({"success": False, "error": f"{uuid} not found"})
        for job in jobs:  # deleting an ODMJob stops its task (the operator's finalizer)
            await self.store.delete(job["metadata"]["name"])
        await self._discard(uuid)
        deleted = await asyncio.to_thread(self.staging.delete_prefix, self.output_root.child(uuid))
        log.info("Task removed uuid=%s jobs=%d product_objects=%d", uuid, len(jobs), deleted)
        return _ok({"success": True})

    async def restart(self, request: web.Request) -> web.Response:
        uuid, body = await self._uuid_field(request)
        job = await self._job(uuid, request[CALLER])
        code = n.status_of(job)[0]
        if code not in (n.CANCELED, n.FAILED, n.COMPLETED):
            return _ok({"success": False, "error": "Task is not in a state that can be restarted"})
        ann = job["metadata"].get("annotations") or {}
        skip = ann.get(n.ANN_SKIP_POST) == "true"
        raw = body.get("options")
        options = n.parse_options(raw, skip) if raw else job["spec"]["odm"].get("options", {})
        run = int(ann.get(n.ANN_RUN) or 1)
        session = {
            "name": ann.get(n.ANN_NAME, ""),
            "options": options,
            "skipPostProcessing": skip,
            "outputs": json.loads(ann[n.ANN_OUTPUTS]) if ann.get(n.ANN_OUTPUTS) else None,
            "dateCreated": int(ann.get(n.ANN_DATE) or _now_ms()),
        }
        # An ODMJob's spec cannot change: the restart is a new run (a new ODMJob with the same UUID label and
        # a fresh output prefix); the old one is deleted, which stops its task if it still has one.
        caller = parent_of(job) or request[CALLER]  # a submodel task stays its parent's whoever restarts it
        await self._create_job(uuid, session, int(ann.get(n.ANN_IMAGES) or 0), caller, run + 1)
        await self.store.delete(job["metadata"]["name"])
        old = S3Prefix.parse(job["spec"]["output"]["s3Uri"])
        await asyncio.to_thread(self.staging.delete_prefix, old)
        return _ok({"success": True})
