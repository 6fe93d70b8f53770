"""A job being deleted: stop its task, then remove the operator's finalizer so the API server can delete it."""

from __future__ import annotations

import logging
from typing import Any

from .. import metrics
from ..plan.ownership import foreign
from ..plan.status import FINISHED
from .job_writer import FINALIZER, JobWriter
from .store import JobStore
from .tasks import Tasks

log = logging.getLogger(__name__)


class Release:
    def __init__(self, store: JobStore, tasks: Tasks, writer: JobWriter, default_cluster: str):
        self.store = store
        self.tasks = tasks
        self.writer = writer
        self.default_cluster = default_cluster

    def release(self, body: dict[str, Any]) -> None:
        """Stop the job's task, then remove the operator's finalizer (if it is on)."""
        meta = body["metadata"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return  # no task was ever started for it (the finalizer goes on first)
        self.finalize(body)
        self.writer.let_go(meta)

    @metrics.timed_handler("finalize")
    def finalize(self, body: dict[str, Any]) -> None:
        """Stop the job's task (if any) before the finalizer is removed. A finished job costs no AWS call."""
        meta = body["metadata"]
        uid = meta["uid"]
        if self.store.finalized(uid):
            return  # stopped already; only the finalizer's removal failed
        status = self.store.status(body)
        attempts = status.get("attempts") or []
        active = attempts[-1] if attempts and not attempts[-1].get("finishedAt") else None
        cluster = (status.get("aws") or {}).get("cluster") or self.default_cluster
        if active is not None and status.get("phase") not in FINISHED:
            reason = f"odm-operator: ODMJob {meta['namespace']}/{meta['name']} was deleted"
            for arn in self._own_tasks(meta, cluster, active.get("taskArn")):
                self.tasks.stop(cluster, arn, reason)
                self.tasks.forget(arn, uid)
                log.info(
                    "Stopped task of deleted job job=%s/%s task=%s", meta["namespace"], meta["name"], arn
                )
        self.store.mark_finalized(uid)  # a later pass of the job sees it is gone

    def _own_tasks(self, meta: dict[str, Any], cluster: str, arn: str | None) -> list[str]:
        """The job's running tasks: the one in status when the tracker's last answer says it is this job's, else
        (in flight, not yet described, or another job's ARN in status) those ECS lists as started by it."""
        uid = meta["uid"]
        known = self.tasks.tracker.get(arn)
        if known is not None and foreign(known, uid) is None:
            return [known.arn]
        arns = [
            t.arn for t in self.tasks.started_by(cluster, uid) if not t.stopped and foreign(t, uid) is None
        ]
        if known is not None and known.arn not in arns and foreign(known, uid):
            log.warning(
                "Left alone a task of another job named in status job=%s/%s: %s",
                meta["namespace"],
                meta["name"],
                foreign(known, uid),
            )
        return arns
