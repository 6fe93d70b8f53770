"""The runtime's one job store: the newest version of every job and what the runtime derived from it.

Written from kopf's event loop (``keep`` of a watch event) and from the dispatcher's threads (the answers to the
operator's own writes, the admitted spec, task ownership); every map is behind one lock, held for dict operations
only, never across a call. The work queue runs one pass of a job at a time (workqueue.py), so per-job entries
are never raced by two passes; the lock is for the maps themselves.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from typing import Any

from ..plan.versions import arrival

# Finalized jobs remembered against late passes; a late pass comes within seconds, not thousands of deletions.
MAX_FINALIZED = 10_000

# The metadata the runtime reads; labels, annotations (kubectl's last-applied copy of the spec among them) and
# managedFields are left out of the copy it keeps of every job.
METADATA_KEPT = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "finalizers",
)


def kept_fields(obj: Any) -> dict[str, Any]:
    """A plain copy of an ODMJob (a watch event's body or a write's answer) with only what the runtime reads."""
    meta = obj["metadata"]
    kept: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: copy.deepcopy(meta[k]) for k in METADATA_KEPT if k in meta},
        "spec": copy.deepcopy(dict(obj.get("spec") or {})),
    }
    if obj.get("status") is not None:
        kept["status"] = copy.deepcopy(dict(obj["status"]))
    return kept


@dataclasses.dataclass(frozen=True)
class Admitted:
    """A job's spec as admitted for one generation: the typed spec (None with errors)."""

    generation: Any
    errors: list[Any]
    spec: Any


class JobStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # The newest version of every job: the watch's, or ours when a write of ours is newer (its status and
        # resourceVersion are folded in). What the passes work from; one copy per job.
        self._bodies: dict[str, dict[str, Any]] = {}
        self._admitted: dict[str, Admitted] = {}
        self._drifted: dict[str, list[str]] = {}  # uid -> spec fields changed since the watch first showed it
        self._owners: dict[str, str] = {}  # task ARN -> job uid
        # Jobs whose finalizer ran, newest last: a pass already on its way must not start a task for a job that is
        # gone. Only recent ones matter, so the map is bounded.
        self._finalized: dict[str, None] = {}

    # ----- bodies ------------------------------------------------------------------------------------------------

    def keep(self, body: dict[str, Any], ours: bool) -> bool:
        """Keep ``body`` if it is newer than the kept version; whether it needs a pass (plan/versions.py). An answer
        to a write of ours (``ours``) never brings back a job that left meanwhile."""
        uid = body["metadata"]["uid"]
        with self._lock:
            if ours and uid not in self._bodies:
                return False
            result = arrival(self._bodies.get(uid), body, ours)
            if result.keep:
                self._bodies[uid] = body
            if result.drift:
                self._drifted[uid] = sorted({*self._drifted.get(uid, []), *result.drift})
        return result.needs_pass

    def get(self, uid: str) -> dict[str, Any] | None:
        with self._lock:
            return self._bodies.get(uid)

    def newest(self, body: dict[str, Any]) -> dict[str, Any]:
        """The kept version of ``body``'s job (a pass's own writes may have replaced the one it started with)."""
        return self.get(body["metadata"]["uid"]) or body

    def status(self, body: dict[str, Any]) -> dict[str, Any]:
        """The newest status we know (the kept body folds in our own writes), as a copy the pass may change."""
        return copy.deepcopy(dict(self.newest(body).get("status") or {}))

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._bodies.values())

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self._bodies.items())

    def __len__(self) -> int:
        return len(self._bodies)

    def drop(self, uid: str) -> dict[str, Any] | None:
        """Forget the job (it left the API server); returns its last kept version."""
        with self._lock:
            self._admitted.pop(uid, None)
            self._drifted.pop(uid, None)
            return self._bodies.pop(uid, None)

    # ----- what passes derived ------------------------------------------------------------------------------------

    def admitted(self, uid: str) -> Admitted | None:
        with self._lock:
            return self._admitted.get(uid)

    def admit(self, uid: str, admitted: Admitted) -> None:
        with self._lock:
            if uid in self._bodies:
                self._admitted[uid] = admitted

    def take_drift(self, uid: str) -> list[str] | None:
        """The spec fields changed since the job was accepted that no pass has reported yet."""
        with self._lock:
            return self._drifted.pop(uid, None)

    # ----- tasks ---------------------------------------------------------------------------------------------------

    def claim(self, arn: str, uid: str) -> str:
        """Record ``uid`` as the job tracking task ``arn`` unless another job does; returns the owner."""
        with self._lock:
            return self._owners.setdefault(arn, uid)

    def owner(self, arn: str) -> str | None:
        with self._lock:
            return self._owners.get(arn)

    def release(self, arn: str, uid: str | None = None) -> bool:
        """Drop the owner of ``arn``; with ``uid``, only if that job owns it. Whether it was dropped."""
        with self._lock:
            if uid is not None and self._owners.get(arn, uid) != uid:
                return False
            self._owners.pop(arn, None)
            return True

    # ----- deletion ------------------------------------------------------------------------------------------------

    def finalized(self, uid: str) -> bool:
        with self._lock:
            return uid in self._finalized

    def mark_finalized(self, uid: str) -> None:
        with self._lock:
            self._finalized[uid] = None
            while len(self._finalized) > MAX_FINALIZED:
                self._finalized.pop(next(iter(self._finalized)))
