"""kopf registration only: kopf watches ODMJobs and hands every event to the runtime. No decisions, no AWS calls
and no Kubernetes writes here.

The one handler is a watching handler (``on.event``), ``async`` and non-blocking: it gives the runtime the newest
body and returns; the runtime's dispatcher runs the pass on its own threads. kopf's change-detecting handlers
(create, update, delete, timers) are deliberately not used: they cost up to five writes per job (kopf's
finalizer, progress and last-handled-configuration annotations), make a new job wait for the echo of kopf's
finalizer patch before its first pass, and keep a timer task per object. The runtime adds its own finalizer just
before a job's first RunTask, stops the task when the job is deleted, and then removes the finalizer.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import kopf

from . import API_GROUP, API_VERSION, PLURAL, metrics
from .aws.clients import make_clients
from .events import EventPoster
from .k8s import KubeWriter, api_client
from .plan.policy import Peer
from .plan.status import FINISHED
from .runtime import Runtime
from .settings import Settings

RESOURCE = (API_GROUP, API_VERSION, PLURAL)
SETTINGS = Settings()
log = logging.getLogger(__name__)


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
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


@kopf.on.event(*RESOURCE)
async def on_event(
    type: str | None, body: kopf.Body, memo: kopf.Memo, odmjobs_by_namespace: kopf.Index, **_: Any
) -> None:
    """Every event of the watch (and each object of its initial listing, type None) goes to the runtime."""
    runtime: Runtime = memo.runtime
    if type == "DELETED":
        runtime.gone(body["metadata"]["uid"])
        return
    namespace = body["metadata"]["namespace"]
    peers = list(odmjobs_by_namespace.get(namespace, [])) if runtime.needs_peers(namespace) else None
    runtime.observe(_plain(body), peers)


def _plain(body: kopf.Body) -> dict[str, Any]:
    """A plain dict copy of kopf's body view (the planner must not hold views that kopf mutates)."""
    return copy.deepcopy(dict(body))
