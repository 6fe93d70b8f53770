"""kopf registration only: which events reach the runtime. No decisions and no AWS calls here.

Handlers that call AWS are plain ``def`` (kopf runs them in its thread pool; a blocking call in ``async def`` would
stall every object). kopf's own bookkeeping goes to annotations under odm-operator.io; status is written by the
runtime only, so handlers return nothing.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.rest import ApiException

from . import API_GROUP, API_VERSION, PLURAL, metrics
from .aws.clients import make_clients
from .events import EventPoster
from .k8s import KubeWriter, api_client
from .plan.policy import Peer
from .plan.status import FINISHED, spec_drift
from .runtime import Runtime, TransientError
from .settings import Settings

RESOURCE = (API_GROUP, API_VERSION, PLURAL)
SETTINGS = Settings()
# With a busy timer, kopf waits this long between checks for cancellation when an object is deleted; its default
# (60 s) made deleting 200 jobs take a minute, 0.5 s takes two seconds.
CANCELLATION_POLLING_SECONDS = 0.5
FINALIZER = f"{API_GROUP}/finalizer"
# Kubernetes API answers worth repeating the pass for: a conflict, throttling, the server's own trouble.
TRANSIENT_API_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
log = logging.getLogger(__name__)


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = FINALIZER
    settings.background.cancellation_polling = CANCELLATION_POLLING_SECONDS
    settings.posting.level = logging.WARNING  # post Events ourselves, not every log line
    settings.watching.server_timeout = 300
    kube = KubeWriter(api_client())
    events = EventPoster(kube.event)
    events.start()
    memo.events = events
    runtime = Runtime(SETTINGS, make_clients(SETTINGS.region), kube, events)
    runtime.start()
    metrics.serve(SETTINGS.metrics_port)
    memo.runtime = runtime
    log.info("Started odm-operator region=%s cluster=%s", SETTINGS.region, SETTINGS.cluster)


@kopf.on.cleanup()
def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runtime = getattr(memo, "runtime", None)
    if runtime is not None:
        runtime.stop()
    events = getattr(memo, "events", None)
    if events is not None:
        events.stop()


@kopf.index(*RESOURCE)
def odmjobs_by_namespace(
    namespace: str, name: str, meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[str, Peer]:
    """Every ODMJob by namespace, as the concurrency quota needs it (kopf keeps it current from the watch)."""
    phase = status.get("phase")
    return {
        namespace: Peer(
            name=name,
            created=str(meta.get("creationTimestamp") or ""),
            active=phase not in FINISHED and not spec.get("suspend"),
            started=phase in ("Starting", "Running"),
        )
    }


def _reconcile(body: kopf.Body, memo: kopf.Memo, index: kopf.Index | None = None) -> None:
    meta = body["metadata"]
    if FINALIZER not in (meta.get("finalizers") or []):
        # kopf spawns the timer before its finalizer patch lands; a job deleted before that is removed at once,
        # so a task started for it now would never be stopped. The create handler runs once the finalizer is on.
        # If kopf's patch failed (a 409 or 500), kopf does not try again until the job changes: add it here, at
        # the timer's later calls (its first call comes with the job's creation, with kopf's patch on its way).
        if _age_seconds(meta) >= SETTINGS.resync_seconds / 2:
            memo.runtime.kube.add_finalizer(_plain(body)["metadata"], FINALIZER)
        return
    peers = _peers(body, memo, index)
    try:
        memo.runtime.reconcile(_plain(body), peers)
    except TransientError as exc:
        raise kopf.TemporaryError(str(exc), delay=SETTINGS.poll_interval_seconds) from exc
    except ApiException as exc:
        if exc.status not in TRANSIENT_API_STATUSES:
            raise
        # Not kopf's backoff for unexpected errors (60 s, during which the job's timer sleeps too).
        message = f"the Kubernetes API answered {exc.status} {exc.reason}"
        raise kopf.TemporaryError(message, delay=SETTINGS.poll_interval_seconds) from exc


@kopf.on.create(*RESOURCE)
@kopf.on.resume(*RESOURCE)
def on_create_or_resume(body: kopf.Body, memo: kopf.Memo, odmjobs_by_namespace: kopf.Index, **_: Any) -> None:
    _reconcile(body, memo, odmjobs_by_namespace)


@kopf.on.field(*RESOURCE, field="spec.suspend")
def on_suspend(
    body: kopf.Body, memo: kopf.Memo, old: Any, new: Any, odmjobs_by_namespace: kopf.Index, **_: Any
) -> None:
    if old is not None or new:
        _reconcile(body, memo, odmjobs_by_namespace)


@kopf.on.update(*RESOURCE, field="spec")
def on_spec_change(body: kopf.Body, memo: kopf.Memo, old: Any, new: Any, **_: Any) -> None:
    fields = spec_drift(dict(old or {}), dict(new or {}))
    if fields and (body.get("status") or {}).get("phase"):
        memo.runtime.report_drift(_plain(body), fields)


def _active(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in FINISHED


def _ttl_pending(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") in FINISHED and spec.get("ttlSecondsAfterFinished") is not None


@kopf.timer(*RESOURCE, interval=SETTINGS.resync_seconds, when=kopf.any_([_active, _ttl_pending]))
async def on_timer(body: kopf.Body, memo: kopf.Memo, odmjobs_by_namespace: kopf.Index, **_: Any) -> None:
    """The safety-net resync. It only decides whether a pass is due (none ran within the interval) and queues it
    on the dispatcher's threads, so a thousand timers never hold kopf's thread pool from new jobs' handlers."""
    runtime = memo.runtime
    if not runtime.resync_due(body["metadata"]["uid"]):
        return
    if FINALIZER not in (body["metadata"].get("finalizers") or []):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, _reconcile, body, memo, odmjobs_by_namespace)
        return
    runtime.resync(_plain(body), _peers(body, memo, odmjobs_by_namespace))


def _peers(body: kopf.Body, memo: kopf.Memo, index: kopf.Index | None) -> list[Peer]:
    namespace = body["metadata"]["namespace"]
    if index is None or not memo.runtime.needs_peers(namespace):
        return []
    return list(index.get(namespace, []))


@kopf.on.delete(*RESOURCE)
def on_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        memo.runtime.finalize(_plain(body))
    except TransientError as exc:
        raise kopf.TemporaryError(str(exc), delay=1) from exc


def _age_seconds(meta: Any) -> float:
    try:
        created = datetime.fromisoformat(str(meta.get("creationTimestamp")).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - created).total_seconds()


def _plain(body: kopf.Body) -> dict[str, Any]:
    """A plain dict copy of kopf's body view (the planner must not hold views that kopf mutates)."""
    return copy.deepcopy(dict(body))
