"""The object store: current objects, one cluster-wide resourceVersion counter, and a bounded event log.

Like etcd behind a real apiserver, every change gets the next resourceVersion and becomes a watch event;
a watch can resume from any resourceVersion still in the log, and gets 410 Gone once it has been compacted
away. Objects are never mutated in place once stored (every write stores a new dict), so events and list
snapshots can share them without copying. Lookups are by dict, so 1000s of objects with frequent patches cost
O(1) per write (kmock's store, used before, re-scanned its request history on every request).

All methods run on the server's event loop thread; nothing here is thread-safe on purpose.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"

# How many changes a watch can lag behind and still resume (older resourceVersions get 410 Gone, as from a
# real apiserver's watch cache). 10k changes of ODMJob-sized objects cost ~30 MB; 50k cost ~60 MB more.
DEFAULT_HISTORY = 10_000


@dataclass(slots=True)
class Change:
    """One stored change, as watches see it. `old` is the previous object (for selector transitions)."""

    rv: int
    storage: str
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None
    _encoded: bytes | None = None

    def encoded(self) -> bytes:
        """The stored object as JSON, computed once and shared by every watch of the same storage."""
        if self._encoded is None:
            self._encoded = json.dumps(self.obj, separators=(",", ":")).encode()
        return self._encoded


@dataclass(eq=False)
class Subscription:
    """A watch's mailbox. `None` in the queue means: the server closes this stream."""

    storage: str
    queue: asyncio.Queue[Change | None] = field(default_factory=asyncio.Queue)


class Store:
    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        self.rv = 0
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = collections.defaultdict(dict)
        self._log: collections.deque[Change] = collections.deque(maxlen=history)
        self._subscriptions: dict[str, set[Subscription]] = collections.defaultdict(set)
        # Called with every change on the server's loop (benchmarks follow each object's status); keep them cheap.
        self.listeners: list[Callable[[Change], None]] = []

    # --- reads ------------------------------------------------------------------------------------------

    def get(self, storage: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self._objects[storage].get((namespace or "", name))

    def list(self, storage: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects in key order (namespace, name), as etcd returns them."""
        table = self._objects[storage]
        keys = sorted(k for k in table if namespace is None or k[0] == namespace)
        return [table[k] for k in keys]

    def count(self, storage: str) -> int:
        return len(self._objects[storage])

    def storages(self) -> list[str]:
        return [s for s, table in self._objects.items() if table]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for table in list(self._objects.values()):
            yield from list(table.values())

    @property
    def oldest_resumable(self) -> int:
        """The smallest resourceVersion a watch may resume from without a 410."""
        if self._log.maxlen is not None and len(self._log) == self._log.maxlen:
            return self._log[0].rv
        return 0

    def changes_since(self, storage: str, rv: int) -> list[Change]:
        return [c for c in self._log if c.rv > rv and c.storage == storage]

    # --- writes -----------------------------------------------------------------------------------------

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, storage: str, obj: dict[str, Any], old: dict[str, Any] | None) -> Change:
        """Store a new version of an object (the caller built a fresh dict); bumps its resourceVersion."""
        meta = obj["metadata"]
        rv = self.next_rv()
        meta["resourceVersion"] = str(rv)
        self._objects[storage][(meta.get("namespace") or "", meta["name"])] = obj
        return self._emit(Change(rv, storage, MODIFIED if old is not None else ADDED, obj, old))

    def remove(self, storage: str, obj: dict[str, Any]) -> Change:
        meta = obj["metadata"]
        self._objects[storage].pop((meta.get("namespace") or "", meta["name"]), None)
        rv = self.next_rv()
        gone = {**obj, "metadata": {**meta, "resourceVersion": str(rv)}}
        return self._emit(Change(rv, storage, DELETED, gone, obj))

    def _emit(self, change: Change) -> Change:
        self._log.append(change)
        for listener in self.listeners:
            listener(change)
        for sub in self._subscriptions.get(change.storage, ()):
            sub.queue.put_nowait(change)
        return change

    # --- watches ----------------------------------------------------------------------------------------

    def subscribe(self, storage: str) -> Subscription:
        sub = Subscription(storage)
        self._subscriptions[storage].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions[sub.storage].discard(sub)

    def close_subscriptions(self, storage: str | None = None) -> int:
        """End open watches (all, or of one storage); clients see the stream close, as on a server restart."""
        closed = 0
        for key, subs in self._subscriptions.items():
            if storage is None or key == storage:
                for sub in subs:
                    sub.queue.put_nowait(None)
                    closed += 1
        return closed

    def subscription_count(self) -> int:
        return sum(len(subs) for subs in self._subscriptions.values())
