"""kopf registration only: kopf watches ODMJobs and hands every event to the runtime. No decisions, no AWS calls
and no Kubernetes writes here.

The one handler is a watching handler (``on.event``), ``async`` and non-blocking: it gives the runtime the newest
body and returns; the runtime's dispatcher runs the pass on its own threads. kopf's change-detecting handlers
(create, update, delete, timers) are deliberately not used: they cost up to five writes per job (kopf's
finalizer, progress and last-handled-configuration annotations), make a new job wait for the echo of kopf's
finalizer patch before its first pass, and keep a timer task per object. The runtime adds its own finalizer just
before a job's first RunTask, stops the task when the job is deleted, and then removes the finalizer. For the same
reason kopf gets a diff-base storage that stores nothing (it would deep-copy and diff every body for handlers that
do not exist), and the namespace peers the concurrency quota needs come from the runtime's own bodies, not from
a kopf index.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from . import API_GROUP, API_VERSION, PLURAL, metrics
from .aws.clients import make_clients
from .kube_client import api_client
from .runtime import Runtime, kept_fields
from .runtime.kube_events import EventPoster
from .runtime.kube_writer import KubeWriter
from .settings import Settings

RESOURCE = (API_GROUP, API_VERSION, PLURAL)
SETTINGS = Settings()
QUEUE_IDLE_SECONDS = 0.5
log = logging.getLogger(__name__)


class NoDiffBase(kopf.DiffBaseStorage):
    """No change-detecting handlers, so nothing to diff: kopf would otherwise copy every body it sees."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.level = logging.WARNING  # post Events ourselves, not every log line
    # kopf keeps a worker (a task and a queue) per object for this long after its last event; the one handler only
    # hands the event over, so workers need not linger (with 5 s, a burst of jobs kept a thousand of them alive).
    settings.queueing.idle_timeout = QUEUE_IDLE_SECONDS
    settings.watching.server_timeout = 300
    kube = KubeWriter(api_client())
    events = EventPoster(kube.event)
    events.start()
    memo.events = events
    runtime = Runtime(SETTINGS, make_clients(SETTINGS.region), kube, events)
    runtime.start()
    metrics.serve(SETTINGS.metrics_port, SETTINGS.metrics_bind_address or metrics.DEFAULT_BIND_ADDRESS)
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


@kopf.on.event(*RESOURCE)
async def on_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every event of the watch (and each object of its initial listing, type None) goes to the runtime."""
    runtime: Runtime = memo.runtime
    if type == "DELETED":
        runtime.gone(body["metadata"]["uid"])
        return
    runtime.observe(kept_fields(body))  # a plain copy: the runtime must not hold views that kopf mutates
