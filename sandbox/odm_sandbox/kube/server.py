"""HTTP routing: from a request to discovery, OpenAPI, a read, a write or a watch.

`ApiServer` answers every request the handler (frontend.py) parsed. It
maps the URL to a resource and a verb the way the apiserver's RequestInfo does, runs fault injection before
anything else, and renders objects, lists, Tables and Status errors with the apiserver's content types.
"""

from __future__ import annotations

import base64
import collections
import json
import logging
import traceback
from typing import Any

import aiohttp.web
import yaml

from . import discovery, errors, openapi, protobuf, selectors
from .crud import IGNORE, STRICT, WARN, Crud, WriteOptions
from .errors import ApiError
from .faults import Faults
from .frontend import Frontend, K8sPath, Request
from .resources import Registry, Resource
from .store import Store
from .tables import TableConvertor
from .watch import WatchRequest, serve

logger = logging.getLogger(__name__)

SERVER_VERSION = {
    "major": "1",
    "minor": "35",
    "emulationMajor": "1",
    "emulationMinor": "35",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "34",
    "gitVersion": "v1.35.2",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-02-10T00:00:00Z",
    "goVersion": "go1.25.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}
TABLE_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
JSON = "application/json"
NOT_FOUND = ApiError(404, "the server could not find the requested resource", details={})
HEALTH_PATHS = ("/healthz", "/readyz", "/livez")
UNEXPECTED_ERRORS_KEPT = 50
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _respond(body: Any, status: int = 200, content_type: str = JSON, headers: dict[str, str] | None = None):
    response = aiohttp.web.Response(body=_dumps(body), status=status, headers=headers)
    response.content_type = content_type.split(";")[0]
    if ";" in content_type:
        response.headers["Content-Type"] = content_type
    return response


def _error(exc: ApiError) -> aiohttp.web.Response:
    return _respond(exc.status(), exc.code, headers=exc.headers or None)


def _flag(params: dict[str, str], name: str) -> bool:
    return params.get(name, "").lower() in ("true", "1")


def _accept_as(accept: str) -> str | None:
    """`Table`, `PartialObjectMetadata(List)` when the client asks for that rendering first."""
    for part in accept.split(","):
        params = {p.strip() for p in part.split(";")}
        if "g=meta.k8s.io" in params:
            for p in params:
                if p.startswith("as="):
                    return p[3:]
        media = part.split(";")[0].strip()
        if media in ("application/json", "*/*", "application/*", "application/yaml"):
            return None
    return None


class ApiServer:
    """The API semantics; `frontend` is the aiohttp-compatible handler to serve."""

    def __init__(
        self,
        registry: Registry,
        store: Store,
        faults: Faults,
        *,
        seed: int | None = 0,
        enforce_namespaces: bool = True,
        history_limit: int = 200,
    ) -> None:
        self.registry = registry
        self.store = store
        self.faults = faults
        self.crud = Crud(registry, store, seed=seed, enforce_namespaces=enforce_namespaces)
        self.frontend = Frontend(self, history_limit)
        self.address = "127.0.0.1:0"
        # Write requests by (plural, namespace, name, subresource, verb), whether or not they changed anything:
        # benchmarks count the writes each object cost (a create has no name in its URL, so its name is "").
        self.writes: collections.Counter[tuple[str, str, str, str, str]] = collections.Counter()
        self.unexpected_errors: collections.deque[str] = collections.deque(maxlen=UNEXPECTED_ERRORS_KEPT)
        self._openapi_cache: dict[Any, Any] = {}
        self._tables: dict[int, TableConvertor] = {}

    async def handle(self, request: Request) -> aiohttp.web.StreamResponse:
        raw = request.raw_request
        try:
            return await self._route(request, raw)
        except ApiError as exc:
            return _error(exc)
        except Exception as exc:  # a bug of the emulator: answer like a real server would, and keep it
            self.unexpected_errors.append(traceback.format_exc())
            logger.exception("Kubernetes emulator failed on %s %s", raw.method, raw.path_qs)
            return _error(errors.internal(repr(exc)))

    # --- routing -----------------------------------------------------------------------------------------

    async def _route(self, request: Request, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        path = raw.path.rstrip("/") or "/"
        method = raw.method
        accept = raw.headers.get("Accept", "")
        if path.startswith(HEALTH_PATHS):
            return aiohttp.web.Response(text="ok")
        if path == "/version":
            return _respond(SERVER_VERSION)
        if path == "/":
            return _respond({"paths": self._root_paths()})
        if path.startswith("/openapi"):
            return self._openapi(path, accept)
        if path == "/api":
            return self._discovery_root(accept, core=True)
        if path == "/apis":
            return self._discovery_root(accept, core=False)
        k8s = K8sPath.parse(path)
        if k8s is None:
            parts = path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "apis":
                doc = discovery.api_group(self.registry, parts[1])
                if doc is not None:
                    return _respond(doc)
            raise NOT_FOUND
        if k8s.plural is None:
            doc = discovery.api_resource_list(self.registry, k8s.group, k8s.version)
            if doc is None:
                raise NOT_FOUND
            return _respond(doc)
        return await self._resource_request(request, raw, method, k8s)

    async def _resource_request(
        self, request: Request, raw: aiohttp.web.BaseRequest, method: str, k8s: K8sPath
    ) -> aiohttp.web.StreamResponse:
        namespace, plural, name, sub = k8s.namespace, k8s.plural, k8s.name, k8s.subresource
        assert plural is not None
        res = self.registry.find(k8s.group, k8s.version, plural)
        if res is None or (namespace is not None and not res.namespaced) or "/" in sub:
            raise NOT_FOUND
        if sub and sub not in res.subresources:
            raise NOT_FOUND
        params = dict(raw.query)
        watching = _flag(params, "watch")
        verb = {
            "GET": ("watch" if watching else "get") if name else ("watch" if watching else "list"),
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete" if name else "deletecollection",
        }.get(method)
        if verb is None or (name is None and verb in ("update", "patch")) or (name and verb == "create"):
            raise errors.method_not_allowed()
        if verb == "create" and res.namespaced and namespace is None:
            raise errors.method_not_allowed()
        fault = self.faults.check(verb, plural, sub, namespace, name)
        if fault is not None:
            raise fault
        if verb in WRITE_VERBS:
            self.writes[(plural, namespace or "", name or "", sub, verb)] += 1
        accept = raw.headers.get("Accept", "")
        if verb == "get":
            obj = res.render(self.crud.get(res, namespace, name))
            return self._render_one(res, obj, accept, params)
        if verb == "list":
            return self._list(res, namespace, params, accept)
        if verb == "watch":
            return await self._watch(res, namespace, name, params, accept, raw)
        opts = self._write_options(params)
        if verb == "delete" or verb == "deletecollection":
            body = self._body(request, raw, optional=True) or {}
            if not isinstance(body, dict):
                raise errors.bad_request("the body of a DELETE must be DeleteOptions")
            opts.dry_run = opts.dry_run or "All" in (body.get("dryRun") or [])
            if verb == "deletecollection":
                return self._delete_collection(res, namespace, params, body, opts.dry_run)
            outcome = self.crud.delete(res, namespace, name, body, opts.dry_run)
            return _respond(outcome.body, outcome.code)
        content_type = (raw.headers.get("Content-Type") or JSON).split(";")[0].strip().lower()
        body = self._body(request, raw)
        if verb == "create":
            outcome = self.crud.create(res, namespace, body, opts)
        elif verb == "update":
            outcome = self.crud.update(res, namespace, name, sub, body, opts)
        else:
            outcome = self.crud.patch(res, namespace, name, sub, content_type, body, opts)
        headers = {}
        if outcome.warnings:
            headers["Warning"] = ", ".join(f"299 - {json.dumps(w)}" for w in outcome.warnings)
        return _respond(outcome.body, outcome.code, headers=headers or None)

    # --- reads -------------------------------------------------------------------------------------------

    def _table(self, res: Resource) -> TableConvertor:
        conv = self._tables.get(id(res))
        if conv is None or conv.resource is not res:
            conv = self._tables[id(res)] = TableConvertor(res)
        return conv

    def _render_one(self, res: Resource, obj: dict[str, Any], accept: str, params: dict[str, str]):
        rendering_as = _accept_as(accept)
        if rendering_as == "Table":
            rv = obj["metadata"].get("resourceVersion", "")
            table = self._table(res).table([obj], rv, params.get("includeObject", "Metadata"))
            return _respond(table, content_type=TABLE_TYPE)
        if rendering_as == "PartialObjectMetadata":
            return _respond(_partial(obj))
        return _respond(obj)

    def _matcher(self, res: Resource, params: dict[str, str]):
        label = params.get("labelSelector")
        field = params.get("fieldSelector")
        label_match = selectors.parse_label_selector(label) if label else None
        field_match = selectors.parse_field_selector(field, res.field_labels) if field else None
        if label_match is None and field_match is None:
            return lambda obj: True
        return lambda obj: (
            (label_match is None or label_match(obj)) and (field_match is None or field_match(obj))
        )

    def _list(self, res: Resource, namespace: str | None, params: dict[str, str], accept: str):
        matches = self._matcher(res, params)
        name = selectors.exact_name(params.get("fieldSelector"))
        if name is not None:
            one = self.store.get(res.storage, namespace if res.namespaced else None, name)
            stored = [one] if one is not None else []
        else:
            stored = self.store.list(res.storage, namespace)
        items = [obj for obj in (res.render(o) for o in stored) if matches(obj)]
        rv = str(self.store.rv)
        list_meta: dict[str, Any] = {"resourceVersion": rv}
        items = self._paginate(items, params, list_meta)
        rendering_as = _accept_as(accept)
        if rendering_as == "Table":
            table = self._table(res).table(items, rv, params.get("includeObject", "Metadata"))
            table["metadata"] = list_meta
            return _respond(table, content_type=TABLE_TYPE)
        if rendering_as == "PartialObjectMetadataList":
            return _respond(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": list_meta,
                    "items": [_partial(o) for o in items],
                }
            )
        return _respond(
            {"apiVersion": res.api_version, "kind": res.list_kind, "metadata": list_meta, "items": items}
        )

    @staticmethod
    def _paginate(items: list[dict[str, Any]], params: dict[str, str], list_meta: dict[str, Any]):
        token = params.get("continue")
        if token:
            try:
                start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
            except (ValueError, KeyError, TypeError):
                raise errors.bad_request(
                    "continue key is not valid: incorrect encoded start resourceVersion"
                ) from None
            items = [o for o in items if _sort_key(o) > tuple(start)]
        try:
            limit = int(params.get("limit") or 0)
        except ValueError:
            limit = 0
        if limit > 0 and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            last = _sort_key(items[-1])
            list_meta["continue"] = base64.urlsafe_b64encode(json.dumps({"start": last}).encode()).decode()
            list_meta["remainingItemCount"] = remaining
        return items

    async def _watch(self, res, namespace, name, params, accept, raw):
        matches = self._matcher(res, params)
        if name is not None:
            inner = matches
            matches = lambda obj: (obj.get("metadata") or {}).get("name") == name and inner(obj)  # noqa: E731
        initial = _flag(params, "sendInitialEvents")
        if initial and params.get("resourceVersionMatch") != "NotOlderThan":
            raise ApiError(
                422,
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to "
                "NotOlderThan",
            )
        table = self._table(res) if _accept_as(accept) == "Table" else None
        timeout = params.get("timeoutSeconds")
        watch = WatchRequest(
            res,
            namespace if res.namespaced else None,
            matches,
            table=table,
            include_object=params.get("includeObject", "Metadata"),
            bookmarks=_flag(params, "allowWatchBookmarks"),
            timeout=float(timeout) if timeout else None,
            content_type=TABLE_TYPE if table is not None else JSON,
        )
        return await serve(
            self.store, watch, raw, since=params.get("resourceVersion"), initial_events=initial
        )

    # --- writes -----------------------------------------------------------------------------------------

    @staticmethod
    def _write_options(params: dict[str, str]) -> WriteOptions:
        validation = params.get("fieldValidation") or WARN
        if validation not in (STRICT, WARN, IGNORE):
            raise errors.bad_request(
                f"fieldValidation must be one of Ignore, Warn, Strict, not {validation!r}"
            )
        dry_run = params.get("dryRun")
        if dry_run and dry_run != "All":
            raise errors.bad_request(f'Invalid dry run value: {dry_run!r}: supported values: "All"')
        return WriteOptions(
            dry_run=bool(dry_run), field_validation=validation, field_manager=params.get("fieldManager")
        )

    @staticmethod
    def _body(request: Request, raw: aiohttp.web.BaseRequest, optional: bool = False) -> Any:
        content_type = (raw.headers.get("Content-Type") or JSON).split(";")[0].strip().lower()
        if not request.body:
            if optional:
                return None
            raise errors.bad_request("the body of the request is empty")
        if content_type == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(request.body)
            except protobuf.ProtobufError:
                raise errors.unsupported_media_type([JSON, "application/yaml"]) from None
        if "protobuf" in content_type or "cbor" in content_type:
            raise errors.unsupported_media_type([JSON, "application/yaml"])
        if content_type.endswith("yaml"):
            try:
                return yaml.safe_load(request.text)
            except yaml.YAMLError as exc:
                raise errors.bad_request(f"error decoding YAML: {exc}") from None
        if request.data is not None:
            return request.data
        try:
            return json.loads(request.body)
        except ValueError as exc:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from None

    def _delete_collection(self, res, namespace, params, body, dry_run):
        matches = self._matcher(res, params)
        deleted = []
        for obj in self.store.list(res.storage, namespace):
            if matches(res.render(obj)):
                outcome = self.crud.delete(
                    res, obj["metadata"].get("namespace"), obj["metadata"]["name"], body, dry_run
                )
                deleted.append(outcome.body)
        meta = {"resourceVersion": str(self.store.rv)}
        return _respond(
            {"apiVersion": res.api_version, "kind": res.list_kind, "metadata": meta, "items": deleted}
        )

    # --- discovery and OpenAPI ---------------------------------------------------------------------------

    def _discovery_root(self, accept: str, core: bool) -> aiohttp.web.Response:
        media = discovery.wants_aggregated(accept)
        if media is not None:
            return _respond(discovery.aggregated(self.registry, core, media), content_type=media)
        if core:
            return _respond(discovery.api_versions(self.address))
        return _respond(discovery.api_group_list(self.registry))

    def _root_paths(self) -> list[str]:
        paths = {
            "/api",
            "/api/v1",
            "/apis",
            "/healthz",
            "/livez",
            "/readyz",
            "/openapi/v2",
            "/openapi/v3",
            "/version",
        }
        for group, versions in self.registry.groups().items():
            if group:
                paths.add(f"/apis/{group}")
                paths.update(f"/apis/{group}/{v}" for v in versions)
        return sorted(paths)

    def _openapi(self, path: str, accept: str) -> aiohttp.web.Response:
        version = SERVER_VERSION["gitVersion"]
        key = (self.registry.revision, path)
        if path == "/openapi/v2":
            if "json" not in accept and accept not in ("", "*/*"):
                raise ApiError(406, "only application/json is served for /openapi/v2", reason="NotAcceptable")
            doc = self._cached(key, lambda: openapi.swagger_v2(self.registry, version))
        elif path == "/openapi/v3":
            doc = self._cached(key, lambda: openapi.root_document(self.registry, version))
        elif path.startswith("/openapi/v3/"):
            gv = path[len("/openapi/v3/") :].split("/")
            if gv[0] == "api" and len(gv) == 2:
                group, gv_version = "", gv[1]
            elif gv[0] == "apis" and len(gv) == 3:
                group, gv_version = gv[1], gv[2]
            else:
                raise NOT_FOUND
            if not self.registry.in_version(group, gv_version):
                raise NOT_FOUND
            doc = self._cached(
                key, lambda: openapi.group_version_document(self.registry, group, gv_version, version)
            )
        else:
            raise NOT_FOUND
        return aiohttp.web.Response(body=doc, content_type="application/json")

    def _cached(self, key: Any, build) -> bytes:
        doc = self._openapi_cache.get(key)
        if doc is None:
            if len(self._openapi_cache) > 64:
                self._openapi_cache.clear()
            doc = self._openapi_cache[key] = _dumps(build())
        return doc


def _sort_key(obj: dict[str, Any]) -> tuple[str, str]:
    m = obj.get("metadata") or {}
    return (m.get("namespace") or "", m.get("name") or "")


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }
