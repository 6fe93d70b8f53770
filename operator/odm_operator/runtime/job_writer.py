"""Every write of a job the runtime makes: its status (only what changed), its finalizer, its deletion after the
TTL. The API server's answer to each write is the job's newest version and goes into the store, so the watch's
echo of it costs no pass."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .. import API_GROUP, metrics
from ..plan.status import FINISHED, merge_patch, only_live_fields_changed, phase_changed, phase_events
from .kube_events import EventFn
from .kube_writer import KubeWriter
from .store import JobStore, kept_fields

log = logging.getLogger(__name__)
# The operator's finalizer: on a job from just before its first RunTask until its task is stopped.
FINALIZER = f"{API_GROUP}/finalizer"


class JobWriter:
    def __init__(
        self,
        kube: KubeWriter,
        store: JobStore,
        events: EventFn,
        submit: Callable[[str], None],
        finished: Callable[[str], None],
    ):
        self.kube = kube
        self.store = store
        self.events = events
        self._submit = submit  # a pass for a job whose answer carries someone else's change
        self._finished = finished  # a job of this namespace finished (its quota slot freed)

    def write(self, body: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        """Patch the status from ``old`` to ``new`` (nothing when equal); returns the status the job now shows."""
        metrics.observe_job(body, old, new)  # phases, attempts, finished jobs and their durations
        patch = merge_patch(old, new)
        if not patch:
            return new
        if only_live_fields_changed(old, new):
            return old  # written with the next real change (see plan/status.py)
        meta = body["metadata"]
        self.remember(self.kube.patch_status(meta["namespace"], meta["name"], patch))
        if phase_changed(old, new):
            if new.get("phase") in FINISHED:
                self._finished(meta["namespace"])
            for kind, reason, message in phase_events(old, new):
                self.events(body, kind, reason, message)
            log.info(
                "Changed phase job=%s/%s phase=%s reason=%s",
                meta["namespace"],
                meta["name"],
                new.get("phase"),
                new.get("reason"),
            )
        return new

    def remember(self, updated: dict[str, Any] | None) -> None:
        """Keep the object as the API server answered a write of ours (status patch, finalizer): it is the newest
        version, and the watch's echo of it is then skipped. Should it carry a change made by someone else since
        (a new generation, a deletion), which the watch's older events will not deliver now, a pass is queued."""
        if (
            updated
            and updated.get("metadata", {}).get("uid")
            and self.store.keep(kept_fields(updated), ours=True)
        ):
            self._submit(updated["metadata"]["uid"])

    def hold(self, body: dict[str, Any]) -> None:
        """Put the operator's finalizer on the job before any task can exist for it, so that deleting the job waits
        for the task to be stopped. Raises when it cannot (the job is gone, being deleted, or changed since the
        newest version we know: its event brings a new pass); no task is started then."""
        newest = self.store.newest(body)  # the pass's own status write may have replaced the pass's body
        if FINALIZER in (newest["metadata"].get("finalizers") or []):
            return
        self.remember(
            self.kube.add_finalizer(newest["metadata"], FINALIZER, newest["metadata"]["resourceVersion"])
        )

    def let_go(self, meta: dict[str, Any]) -> None:
        """Remove the operator's finalizer (its task is stopped): the API server may delete the job."""
        finalizers = meta.get("finalizers") or []
        self.kube.remove_finalizer(meta, FINALIZER, finalizers.index(FINALIZER))

    def delete(self, namespace: str, name: str) -> None:
        self.kube.delete(namespace, name)
