"""The runtime: wires the job store, the work queue, the tracker, the janitor and the writers together, and runs
one pass of a job: what the planner decided (plan/reconcile.py, pure), executed against AWS and Kubernetes."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from .. import metrics
from ..api.validation import parse_s3_uri, parse_spec
from ..aws.capacity_providers import MANAGED_PREFIX, CapacityGateway
from ..aws.clients import Clients
from ..aws.ecs import EcsGateway
from ..aws.errors import AwsCallError, retries_pass
from ..aws.events import TaskEventsGateway
from ..aws.logs import LogsGateway
from ..aws.s3 import S3Gateway
from ..plan import attempts
from ..plan import launch as plan_launch
from ..plan import reconcile as plan
from ..plan.admission import check_job, spec_in_effect
from ..plan.outputs import outputs_from
from ..plan.policy import Peer, check_policy, quota_wait, with_defaults
from ..plan.settings_check import check_settings, problems_for
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
        self._actions()
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
        waiting = status.get("phase") not in FINISHED and attempts.active(status) is None
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
            cluster=(spec.capacity.cluster or self.settings.cluster) if spec is not None else "",
            log_group=self.settings.log_group,
            capacity_busy=waiting and self._capacity_busy(spec),
        )

    def _capacity_busy(self, spec: Any) -> bool:
        """Whether the managed provider a new attempt of the job needs is being created by another pass now."""
        if not self.capacity.creating():
            return False
        provider = plan_launch.managed_provider(spec, self.settings)
        return provider is not None and self.capacity.busy(*provider)

    def _reconcile(self, body: dict[str, Any], peers: list[Peer]) -> tuple[float | None, bool]:
        status = self._report_drift(body, self.store.status(body))
        job = self._view(body, status, peers)
        provider = (status.get("aws") or {}).get("capacityProvider") or ""
        if provider.startswith(MANAGED_PREFIX) and status.get("phase") not in FINISHED:
            self._provider_clusters.setdefault(provider, self._cluster_of(status))
            self.janitor.touch(provider)
        active = attempts.active(status)
        observed = self.tracker.get(active.get("taskArn") if active else None)
        decision = plan.decide(job, observed, _now(), self.timing)
        shown, requeue = self._execute(body, job, status, decision)
        return requeue, shown.get("phase") not in FINISHED

    def _execute(
        self, body: dict[str, Any], job: plan.JobView, shown: dict[str, Any], decision: plan.Decision
    ) -> tuple[dict[str, Any], float | None]:
        """Run the decision's ``before`` actions, write its status (``shown`` is what the job shows now), run its
        ``after`` actions, and the same for each follow-up decision one of them returns (plan/launch.py). Returns
        the status the job shows and the soonest requeue asked for."""
        status = decision.status
        for action in decision.before:
            status = self._before[type(action)](body, job, status, action)
        shown = self.writer.write(body, shown, status)
        requeue = decision.requeue_after
        for action in decision.after:
            follow = self._after[type(action)](body, job, shown, action)
            if follow is not None:
                shown, more = self._execute(body, job, shown, follow)
                requeue = more if requeue is None else requeue if more is None else min(requeue, more)
        return shown, requeue

    # ----- the actions: each does what it says and chooses nothing (the planner did) ---------------------------

    def _actions(self) -> None:
        self._before: dict[type, Any] = {
            plan.Stop: self._stop,
            plan.StopOwn: self._stop_own,
            plan.CollectOutputs: self._collect_outputs,
        }
        self._after: dict[type, Any] = {
            plan.Start: self.launcher.start,
            plan.Adopt: self.launcher.adopt,
            plan.Watch: self._watch,
            plan.Forget: lambda body, job, status, action: self.tasks.forget(action.task_arn, job.uid),
            plan.Record: lambda body, job, status, action: self.tracker.record(action.task),
            plan.Emit: self._emit,
            plan.DeleteJob: self._delete,
        }

    def _stop(self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], action: plan.Stop):
        # Before the write that ends the attempt: no later pass would stop the task again, so a crash or a failed
        # StopTask after that write would leave it running unwatched.
        self.tasks.stop(action.cluster or self._cluster_of(status), action.task_arn, action.reason)
        self.events(body, "Normal", "TaskStopped", f"stopped ECS task {action.task_arn}: {action.reason}")
        return status

    def _stop_own(
        self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], action: plan.StopOwn
    ):
        self.tasks.stop_own(action.cluster or self._cluster_of(status), job.uid, action.reason)
        return status

    def _collect_outputs(
        self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], action: plan.CollectOutputs
    ) -> dict[str, Any]:
        """The products found under the output prefix, in the same write as Succeeded."""
        uri = parse_s3_uri(action.output_uri)
        try:
            outputs = outputs_from(uri.normalized, self.s3.list_prefix(uri.bucket, uri.prefix))
        except AwsCallError as exc:
            if retries_pass(exc):
                raise retry_later(exc) from exc
            log.warning("Listing outputs failed uri=%s code=%s", action.output_uri, exc.code)
            outputs = {}
        return {**status, "outputs": outputs}

    def _watch(
        self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], action: plan.Watch
    ) -> None:
        self.tasks.watch(job.uid, action.cluster or self._cluster_of(status), action.task_arn)

    def _emit(
        self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], action: plan.Emit
    ) -> None:
        log.info(
            "Posted event job=%s/%s reason=%s: %s", job.namespace, job.name, action.reason, action.message
        )
        self.events(body, action.kind, action.reason, action.message)

    def _delete(
        self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], action: plan.DeleteJob
    ):
        log.info("Deleted ODMJob after ttlSecondsAfterFinished job=%s/%s", job.namespace, job.name)
        self.writer.delete(job.namespace, job.name)

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

    def _cluster_of(self, status: dict[str, Any]) -> str:
        """The cluster the job's tasks run in: the one recorded in status, else the default."""
        return (status.get("aws") or {}).get("cluster") or self.settings.cluster


def _now() -> datetime:
    return datetime.now(UTC)
