"""The runtime: wires the job store, the work queue, the tracker, the janitor and the writers together, and runs
one pass of a job: what the planner decided (plan/reconcile.py, pure), executed against AWS and Kubernetes."""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from .. import metrics
from ..api.validation import parse_s3_uri, parse_spec
from ..aws.capacity_providers import MANAGED_PREFIX, CapacityGateway
from ..aws.clients import Clients
from ..aws.ecs import EcsGateway
from ..aws.errors import AwsCallError
from ..aws.events import TaskEventsGateway
from ..aws.logs import LogsGateway
from ..aws.s3 import S3Gateway
from ..plan import reconcile as plan
from ..plan.admission import check_job, spec_in_effect
from ..plan.desired import capacity, resolve_size
from ..plan.outputs import outputs_from
from ..plan.policy import Peer, check_policy, quota_wait, with_defaults
from ..plan.settings_check import check_settings, problems_for
from ..plan.sizing import SizingError
from ..plan.status import FINISHED, now_rfc3339, with_drift
from ..plan.tags import resource_tags, tag_map
from ..settings import Settings
from .aws_retrying import AwsRetrying
from .dispatcher import Dispatcher
from .ecs_events import EventConsumer
from .errors import TransientError, retry_later
from .janitor import Janitor
from .job_writer import JobWriter
from .kube_events import EventFn
from .kube_writer import KubeWriter
from .launcher import Launcher
from .quota import Quota
from .release import Release
from .store import Admitted, JobStore
from .tasks import Tasks
from .tracker import Tracker

log = logging.getLogger(__name__)
# A pass may need more than one decision (adoption found nothing -> start); never loop forever.
MAX_STEPS = 4
# A job whose capacity provider another pass is creating comes back this much later instead of holding one of the
# dispatcher's threads while it waits (a burst of EC2 jobs would otherwise hold them all and stall Fargate jobs).
CAPACITY_BUSY_RETRY_SECONDS = 0.25


class Runtime:
    def __init__(self, settings: Settings, clients: Clients, kube: KubeWriter, events: EventFn):
        self.settings = settings
        self.ecs = EcsGateway(clients.ecs, resource_tags(settings))
        self.logs = LogsGateway(clients.logs, tag_map(settings))
        self.s3 = S3Gateway(clients.s3)
        self.capacity = CapacityGateway(clients.ec2, clients.autoscaling, self.ecs)
        self._provider_clusters: dict[str, str] = {}
        self.janitor = Janitor(
            self.capacity,
            lambda name: self._provider_clusters.get(name, settings.cluster),
            settings.capacity_grace_seconds,
            settings.time_scale,
        )
        self.events = events
        # Checked once: settings change only with a restart. Jobs that need a broken one fail InvalidConfiguration.
        self.setting_problems = check_settings(settings)
        self.store = JobStore()
        self.dispatch = Dispatcher(self._pass)
        self.quota = Quota(settings, self.store, self.dispatch.submit)
        self.writer = JobWriter(kube, self.store, events, self.dispatch.submit, self.quota.wake_waiting)
        self.tracker = Tracker(
            lambda cluster, arns: self.tasks.describe(cluster, arns),
            settings.poll_interval_seconds,
            on_change=lambda task: self.tasks.changed(task),
            read_logs=lambda streams, start: self.logs.stage_lines(settings.log_group, streams, start),
            stream_prefix=settings.log_stream_prefix,
            sweep_interval=settings.events_sweep_seconds if settings.tracking == "events" else None,
        )
        self.task_events: EventConsumer | None = None  # tracking: events (ecs_events.py)
        if settings.tracking == "events":
            self.task_events = EventConsumer(
                TaskEventsGateway(clients.events, clients.sqs, tag_map(settings)),
                self.tracker.apply_events,
                queue_url=settings.events_queue_url,
                queue_name=settings.events_queue_name,
                rule_name=settings.events_rule_name,
                clusters=[settings.cluster],
            )
            self.tracker.events_alive = self.task_events.alive
        self.tasks = Tasks(self.ecs, self.store, self.tracker, self.task_events, self.dispatch.submit)
        self.launcher = Launcher(
            settings,
            self.ecs,
            self.logs,
            self.s3,
            self.capacity,
            self.janitor,
            self.tasks,
            self.writer,
            events,
            self._provider_clusters,
        )
        self.releaser = Release(self.store, self.tasks, self.writer, settings.cluster)
        self.aws_retrying = AwsRetrying(self.store, self.writer, settings.aws_retry_limit)
        self.timing = plan.Timing(
            settings.retry_backoff_seconds,
            settings.retry_backoff_max_seconds,
            settings.time_scale,
            settings.provisioning_timeout_seconds,
        )

    def start(self) -> None:
        for problem in self.setting_problems:
            log.warning("Found a settings problem scope=%s: %s", problem.scope, problem)
        self.dispatch.start()
        self.tracker.start()
        if self.task_events is not None:
            self.task_events.start()
        if self.settings.manage_capacity:
            self.janitor.start()
        threading.Thread(target=self._warm_up, name="odm-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        """Ensure the default cluster and the log group once at start, so the first burst of jobs does not queue
        behind those calls (and a missing permission shows in the log at once). Best effort: a job's own pass
        ensures them again if this failed."""
        try:
            self.ecs.ensure_cluster(self.settings.cluster, self.settings.create_cluster, False)
            self.logs.ensure_group(self.settings.log_group)
        except AwsCallError as exc:
            log.warning(
                "Checking the cluster and log group at start failed code=%s: %s", exc.code, exc.message
            )

    def stop(self) -> None:
        self.janitor.stop()
        if self.task_events is not None:
            self.task_events.stop()
        self.tracker.stop()
        self.dispatch.stop()

    # ----- watch events (called on kopf's event loop: memory only, never blocking) -------------------------------

    def observe(self, body: dict[str, Any]) -> None:
        """A watch event of a job: keep it and queue a pass, unless it is the echo of a write of ours or older
        than the version kept (plan/versions.py)."""
        if self.store.keep(body, ours=False):
            self.dispatch.submit(body["metadata"]["uid"])

    def gone(self, uid: str) -> None:
        """The job left the API server: forget it (its task, if it had one, was stopped before its finalizer went)."""
        self.store.mark_finalized(uid)
        body = self.store.drop(uid)
        self.dispatch.cancel(uid)
        metrics.forget_job(uid)
        self.aws_retrying.forget(uid)
        if body is not None:
            self.quota.wake_waiting(body["metadata"]["namespace"])

    # ----- one pass (on a dispatcher thread) ---------------------------------------------------------------------

    def _pass(self, uid: str) -> None:
        body = self.store.get(uid)
        if body is None:
            return
        if body["metadata"].get("deletionTimestamp"):
            self.releaser.release(body)
        else:
            self.reconcile(body)

    @metrics.timed_handler("reconcile")
    def reconcile(self, body: dict[str, Any]) -> float | None:
        """One pass over a job. Returns seconds until something is due (or None)."""
        meta = body["metadata"]
        uid = meta["uid"]
        if self.store.finalized(uid):
            return None
        try:
            requeue, active = self._reconcile(body, self.quota.peers_of(meta["namespace"]))
        except TransientError as exc:
            self.aws_retrying.failed(body, exc)
            raise  # the dispatcher runs the pass again, with backoff
        self.aws_retrying.succeeded(body)
        if active:  # the safety net: a pass at least every resync interval while the job is not finished
            resync = self.settings.resync_seconds
            requeue = resync if requeue is None else min(requeue, resync)
        if requeue is not None:
            self.dispatch.later(uid, requeue)
        return requeue

    def _view(self, body: dict[str, Any], status: dict[str, Any], peers: list[Peer]) -> plan.JobView:
        """What the planner reads about the job: its admitted spec, what the policy and quotas say, its status."""
        meta = body["metadata"]
        errors, spec = self._admit(body)
        policy = check_policy(spec, self.settings, meta["namespace"]) if spec is not None else []
        quota = quota_wait(
            self.settings, meta["namespace"], meta["name"], str(meta.get("creationTimestamp") or ""), peers
        )
        waiting = status.get("phase") not in FINISHED and _active_attempt(status) is None
        if quota is None and spec is not None and not policy and waiting:
            quota = self.quota.operator_wait(body)
        return plan.JobView(
            namespace=meta["namespace"],
            name=meta["name"],
            uid=meta["uid"],
            generation=meta.get("generation"),
            spec=spec,
            status=status,
            errors=tuple(str(e) for e in errors),
            policy_errors=tuple(str(e) for e in policy),
            quota_wait=quota,
            config_errors=tuple(str(p) for p in problems_for(spec, self.settings, self.setting_problems))
            if spec is not None
            else (),
            creation=meta.get("creationTimestamp"),
        )

    def _reconcile(self, body: dict[str, Any], peers: list[Peer]) -> tuple[float | None, bool]:
        meta = body["metadata"]
        status = self._report_drift(body, self.store.status(body))
        job = self._view(body, status, peers)
        spec = job.spec
        aws_status = status.get("aws") or {}
        provider = aws_status.get("capacityProvider") or ""
        if provider.startswith(MANAGED_PREFIX) and status.get("phase") not in FINISHED:
            self._provider_clusters.setdefault(provider, self._cluster_of(status))
            self.janitor.touch(provider)
        if spec is not None:
            cluster = spec.capacity.cluster or self.settings.cluster
            aws = status.setdefault("aws", {})
            aws.setdefault("cluster", cluster)
            aws.setdefault("logGroup", self.settings.log_group)
        requeue = None
        for _ in range(MAX_STEPS):
            active = _active_attempt(status)
            observed = self.tracker.get(active.get("taskArn") if active else None)
            decision = plan.decide(dataclasses.replace(job, status=status), observed, _now(), self.timing)
            if any(isinstance(a, plan.Start) for a in decision.actions) and self._capacity_busy(job):
                return CAPACITY_BUSY_RETRY_SECONDS, True  # nothing written: the next pass decides again
            for action in decision.actions:
                if isinstance(action, plan.CollectOutputs):
                    decision.status["outputs"] = self._outputs(action.output_uri)
                elif isinstance(action, plan.Stop):
                    # Before the write that ends the attempt: no later pass would stop the task again, so a
                    # crash or a failed StopTask after that write would leave it running unwatched.
                    self.tasks.stop(
                        action.cluster or self._cluster_of(status), action.task_arn, action.reason
                    )
                    self.events(
                        body, "Normal", "TaskStopped", f"stopped ECS task {action.task_arn}: {action.reason}"
                    )
                elif isinstance(action, plan.StopOwn):
                    self.tasks.stop_own(
                        action.cluster or self._cluster_of(status), meta["uid"], action.reason
                    )
            status = self.writer.write(body, status, decision.status)
            requeue = decision.requeue_after
            again = False
            for action in decision.actions:
                status, more = self._act(body, job, status, action)
                again = again or more
            if not again:
                break
        return requeue, status.get("phase") not in FINISHED

    def _capacity_busy(self, job: plan.JobView) -> bool:
        """The managed provider this job's first attempt needs is being created by another pass right now. Only
        for jobs that give their resources (a dataset-sized job's provider is known only after listing S3)."""
        spec = job.spec
        if spec is None or spec.resources is None or spec.capacity.type == "fargate":
            return False
        try:
            cap = capacity(spec, self.settings, resolve_size(spec, None))
        except SizingError:
            return False
        return cap.kind == "managed" and self.capacity.busy(cap.cluster, cap.provider)

    def _admit(self, body: dict[str, Any]) -> tuple[list[Any], Any]:
        """Admission errors and the typed spec, computed once per generation (spec only changes with it)."""
        meta = body["metadata"]
        cached = self.store.admitted(meta["uid"])
        if cached is not None and cached.generation == meta.get("generation"):
            return cached.errors, cached.spec
        errors = check_job(body, self.settings)
        spec = parse_spec(body["spec"]) if not errors else None
        if cached is not None and (body.get("status") or {}).get("phase"):
            # an accepted spec stays in effect (immutable but for spec.suspend)
            errors, spec = spec_in_effect(cached.spec, errors, spec, body["spec"].get("suspend", False))
        if spec is not None:  # the namespace's default task role, the default deadline (plan/policy.py)
            spec = with_defaults(spec, self.settings, meta["namespace"])
        self.store.admit(meta["uid"], Admitted(meta.get("generation"), errors, spec))
        return errors, spec

    def _report_drift(self, body: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        """A spec change that got past the API server (no CEL there) to a job already accepted: keep running, say
        so in a condition and an Event. The changed fields were found when the version arrived (store.keep)."""
        meta = body["metadata"]
        fields = self.store.take_drift(meta["uid"])
        if not fields or not status.get("phase"):
            return status
        new = self.writer.write(
            body, status, with_drift(status, fields, now_rfc3339(_now()), meta.get("generation"))
        )
        self.events(body, "Warning", "SpecImmutable", new["conditions"][-1]["message"])
        return new

    def _act(self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], action: Any):
        cluster = self._cluster_of(status)
        if isinstance(action, plan.Start):
            return self.launcher.start(body, job, status, action.attempt), False
        if isinstance(action, plan.Adopt):
            return self.launcher.adopt(body, job, status, action.attempt, cluster)
        if isinstance(action, plan.Watch):
            self.tasks.watch(job.uid, action.cluster or cluster, action.task_arn)
        elif isinstance(action, plan.Forget):
            self.tasks.forget(action.task_arn, job.uid)
        elif isinstance(action, plan.Stop):
            pass  # done before the status write (see _reconcile)
        elif isinstance(action, plan.CollectOutputs):
            pass  # done before the status write, so outputs land in the same patch as Succeeded
        elif isinstance(action, plan.DeleteJob):
            log.info("Deleted ODMJob after ttlSecondsAfterFinished job=%s/%s", job.namespace, job.name)
            self.writer.delete(job.namespace, job.name)
        return status, False

    def _outputs(self, output_uri: str) -> dict[str, Any]:
        uri = parse_s3_uri(output_uri)
        try:
            return outputs_from(uri.normalized, self.s3.list_prefix(uri.bucket, uri.prefix))
        except AwsCallError as exc:
            if exc.kind == "transient":
                raise retry_later(exc) from exc
            log.warning("Listing outputs failed uri=%s code=%s", output_uri, exc.code)
            return {}

    def _cluster_of(self, status: dict[str, Any]) -> str:
        """The cluster the job's tasks run in: the one recorded in status, else the default."""
        return (status.get("aws") or {}).get("cluster") or self.settings.cluster


def _active_attempt(status: dict[str, Any]) -> dict[str, Any] | None:
    attempts = status.get("attempts") or []
    if attempts and not attempts[-1].get("finishedAt"):
        return attempts[-1]
    return None


def _now() -> datetime:
    return datetime.now(UTC)
