"""Watch streams: JSON lines of `{"type": ..., "object": ...}` over a chunked `application/json` response.

What clients rely on, and so what this implements:
- resuming from a resourceVersion (kopf reconnects with the last one it saw; a compacted one gets an ERROR
  event with a 410 Status, after which clients re-list);
- `sendInitialEvents=true` + `resourceVersionMatch=NotOlderThan` (WatchList, used by kopf and by
  `kubectl wait` in 1.35): the current objects as ADDED, then a BOOKMARK annotated
  `k8s.io/initial-events-end: "true"`;
- selectors evaluated on both the old and the new object, so an object that stops matching is seen as
  DELETED and one that starts matching as ADDED, as from a real watch cache;
- `timeoutSeconds` (the server ends the stream), periodic BOOKMARKs when allowed, Table events for
  `kubectl get -w`, and streams the server can drop on demand (fault injection).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp.web

from . import errors
from .resources import Resource
from .store import ADDED, BOOKMARK, DELETED, ERROR, MODIFIED, Change, Store
from .tables import TableConvertor

BOOKMARK_INTERVAL = 30.0  # seconds between idle bookmarks; real servers send one about every minute
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class WatchRequest:
    """One open watch: what it selects and how it renders, decided when it starts."""

    def __init__(
        self,
        res: Resource,
        namespace: str | None,
        matches: Callable[[dict[str, Any]], bool],
        *,
        table: TableConvertor | None = None,
        include_object: str = "Metadata",
        bookmarks: bool = False,
        timeout: float | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.res = res
        self.namespace = namespace
        self.matches = matches
        self.table = table
        self.include_object = include_object
        self.bookmarks = bookmarks
        self.timeout = timeout
        self.content_type = content_type
        self._headers_sent = False

    def _selects(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and (obj.get("metadata") or {}).get("namespace") != self.namespace:
            return False
        return self.matches(self.res.render(obj))

    def translate(self, change: Change) -> str | None:
        """The event type this watcher sees for a change, or None if the change is not its business."""
        now = self._selects(change.obj)
        before = self._selects(change.old) if change.type != ADDED else False
        if change.type == DELETED:
            return DELETED if (before or now) else None
        if now and before:
            return MODIFIED
        if now:
            return ADDED
        if before:
            return DELETED
        return None

    def encode(self, event_type: str, obj: dict[str, Any], change: Change | None = None) -> bytes:
        if self.table is not None:
            rendered = self.res.render(obj)
            rv = (rendered.get("metadata") or {}).get("resourceVersion", "")
            table = self.table.table([rendered], rv, self.include_object, headers=not self._headers_sent)
            self._headers_sent = True
            body = json.dumps(table, separators=(",", ":")).encode()
        elif change is not None and self.res.render(change.obj) is change.obj:
            body = change.encoded()  # shared by every watcher of this storage: serialized once
        else:
            body = json.dumps(self.res.render(obj), separators=(",", ":")).encode()
        return b'{"type":"' + event_type.encode() + b'","object":' + body + b"}\n"

    def bookmark(self, rv: int, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": self.res.kind, "apiVersion": self.res.api_version, "metadata": meta}
        if self.table is not None:
            obj = {
                "kind": "Table",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "columnDefinitions": [],
                "rows": [],
            }
        return json.dumps({"type": BOOKMARK, "object": obj}, separators=(",", ":")).encode() + b"\n"


async def serve(
    store: Store,
    watch: WatchRequest,
    raw_request: aiohttp.web.BaseRequest,
    *,
    since: str | None,
    initial_events: bool,
) -> aiohttp.web.StreamResponse:
    """Stream events until the timeout, the client going away, or the server dropping the stream."""
    sub = store.subscribe(watch.res.storage)
    try:
        # Everything up to the subscription is read synchronously: no change can slip in between.
        if since in (None, "", "0") or initial_events:
            backlog = [(ADDED, obj, None) for obj in store.list(watch.res.storage, watch.namespace)]
            backlog = [(t, o, c) for t, o, c in backlog if watch._selects(o)]
            start_rv = store.rv
            too_old = None
        else:
            try:
                rv = int(since)
            except ValueError:
                raise errors.bad_request(f'invalid resource version "{since}"') from None
            too_old = rv < store.oldest_resumable
            changes = [] if too_old else store.changes_since(watch.res.storage, rv)
            backlog = []
            for change in changes:
                kind = watch.translate(change)
                if kind is not None:
                    backlog.append((kind, change.obj, change))
            start_rv = store.rv

        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": watch.content_type})
        response.enable_chunked_encoding()
        await response.prepare(raw_request)
        try:
            if too_old:
                status = errors.gone(f"too old resource version: {since} ({store.oldest_resumable})").status()
                await response.write(json.dumps({"type": ERROR, "object": status}).encode() + b"\n")
                await response.write_eof()
                return response
            for kind, obj, change in backlog:
                await response.write(watch.encode(kind, obj, change))
            if initial_events:
                await response.write(watch.bookmark(start_rv, initial_end=True))
            await _pump(store, watch, sub.queue, response)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            pass
        return response
    finally:
        store.unsubscribe(sub)


async def _pump(store: Store, watch: WatchRequest, queue: asyncio.Queue, response) -> None:
    deadline = time.monotonic() + watch.timeout if watch.timeout is not None else None
    while True:
        wait = BOOKMARK_INTERVAL if watch.bookmarks else None
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            wait = left if wait is None else min(wait, left)
        try:
            change = await asyncio.wait_for(queue.get(), wait) if wait is not None else await queue.get()
        except TimeoutError:
            if watch.bookmarks and queue.empty() and (deadline is None or time.monotonic() < deadline):
                await response.write(watch.bookmark(store.rv))
            continue
        if change is None:
            return  # dropped by the server
        kind = watch.translate(change)
        if kind is not None:
            await response.write(watch.encode(kind, change.obj, change))
