"""The operator's runtime: runs the planner's decisions against AWS and Kubernetes for one job at a time.

handlers.py hands over every watch event (``observe``, ``gone``); the dispatcher runs the passes: ``reconcile``
for a live job, ``release`` (stop its task, then remove the finalizer) for one being deleted. Everything they
decide comes from plan/reconcile.py (pure), and everything they do goes through the gateways in aws/ and the
writer in k8s.py. The dispatcher's work queue never runs two passes of one job at once (workqueue.py).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from . import API_GROUP, contract, metrics
from .api.quantity import format_mib, to_mib
from .api.validation import parse_s3_uri, parse_spec
from .aws.capacity import MANAGED_PREFIX, QUOTA_FULL, CapacityGateway
from .aws.clients import Clients
from .aws.ecs import EcsGateway
from .aws.errors import AwsCallError, classify_run_failure, provider_not_associated
from .aws.events import TaskEventsGateway
from .aws.logs import LogsGateway
from .aws.s3 import Dataset, S3Gateway
from .dispatch import Dispatcher
from .event_consumer import EventConsumer
from .events import EventFn
from .janitor import Janitor
from .k8s import KubeWriter
from .plan import aws_retries
from .plan import reconcile as plan
from .plan.admission import check_job, spec_in_effect
from .plan.desired import (
    JobRef,
    TaskSize,
    capacity,
    resolve_size,
    resource_tags,
    run_task,
    tag_map,
    task_definition,
)
from .plan.observed import from_describe, from_run_task
from .plan.outputs import outputs_from
from .plan.ownership import foreign
from .plan.policy import Peer, check_policy, needs_peers, operator_wait, quota_wait, with_defaults
from .plan.settings_check import check_settings, problems_for
from .plan.sizing import SizingError, escalated
from .plan.status import (
    FINISHED,
    merge_patch,
    now_rfc3339,
    only_live_fields_changed,
    phase_changed,
    phase_events,
    with_drift,
)
from .plan.versions import arrival
from .settings import Settings, policy_for
from .tracker import Tracker

log = logging.getLogger(__name__)
# A pass may need more than one decision (adoption found nothing -> start); never loop forever.
MAX_STEPS = 4
# Finalized jobs remembered against late passes; a late pass comes within seconds, not thousands of deletions.
MAX_FINALIZED = 10_000
# The operator's finalizer: on a job from just before its first RunTask until its task is stopped.
FINALIZER = f"{API_GROUP}/finalizer"
# A job whose capacity provider another pass is creating comes back this much later instead of holding one of the
# dispatcher's threads while it waits (a burst of EC2 jobs would otherwise hold them all and stall Fargate jobs).
CAPACITY_BUSY_RETRY_SECONDS = 0.25
# Waiting jobs of other namespaces woken when a job finishes (the operator-wide ceilings free a slot at a time).
WAKE_OLDEST = 8


class TransientError(Exception):
    """AWS said "not now" (throttled, 5xx): the dispatcher runs the pass again later, nothing is counted against
    the job."""


@dataclasses.dataclass(frozen=True)
class _Admitted:
    """A job's spec as admitted for one generation: the typed spec (None with errors)."""

    generation: Any
    errors: list[Any]
    spec: Any


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
        self.kube = kube
        self.events = events
        # Checked once: settings change only with a restart. Jobs that need a broken one fail InvalidConfiguration.
        self.setting_problems = check_settings(settings)
        self.dispatch = Dispatcher(self._reconcile_known)
        self.tracker = Tracker(
            self._describe,
            settings.poll_interval_seconds,
            on_change=self._on_task_change,
            read_logs=lambda streams, start: self.logs.stage_lines(settings.log_group, streams, start),
            stream_prefix=settings.log_stream_prefix,
            sweep_interval=settings.events_sweep_seconds if settings.tracking == "events" else None,
        )
        self.task_events: EventConsumer | None = None  # tracking: events (event_consumer.py)
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
        self.timing = plan.Timing(
            settings.retry_backoff_seconds,
            settings.retry_backoff_max_seconds,
            settings.time_scale,
            settings.provisioning_timeout_seconds,
        )
        # The newest version of every job: the watch's, or ours when a write of ours is newer (its status and
        # resourceVersion are folded in). What the dispatcher's passes work from; one copy per job.
        self._bodies: dict[str, dict[str, Any]] = {}
        self._bodies_lock = threading.Lock()  # held for dict operations only, never across a call
        self._owners: dict[str, str] = {}  # task ARN -> job uid
        self._admitted: dict[str, _Admitted] = {}
        self._drifted: dict[str, list[str]] = {}  # uid -> spec fields changed since the watch first showed it
        # uid -> passes failed in a row by errors retried without counting; uids showing AwsRetrying=True
        self._transient: dict[str, int] = {}
        self._retrying: set[str] = set()
        # Jobs whose finalizer ran, newest last: a pass that was already on its way (a stale kopf body, a dispatched
        # pass) must not start a task for a job that is gone. Only recent ones matter, so the set is bounded.
        self._finalized: dict[str, None] = {}

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

    def _on_task_change(self, task: Any) -> None:
        owner = self._owners.get(task.arn)
        if owner is not None:
            self.dispatch.submit(owner)

    def _needs_peers(self, namespace: str) -> bool:
        """Whether passes in ``namespace`` need its other jobs (only a concurrency quota looks at them)."""
        policy = policy_for(self.settings, namespace)
        return policy is not None and policy.max_concurrent_jobs is not None

    # ----- watch events (called on kopf's event loop: memory only, never blocking) -------------------------------

    def observe(self, body: dict[str, Any]) -> None:
        """A watch event of a job: keep it and queue a pass, unless it is the echo of a write of ours or older
        than the version kept (plan/versions.py)."""
        if self._keep(body, ours=False):
            self.dispatch.submit(body["metadata"]["uid"])

    def _remember(self, updated: dict[str, Any] | None) -> None:
        """Keep the object as the API server answered a write of ours (status patch, finalizer): it is the newest
        version, and the watch's echo of it is then skipped. Should it carry a change made by someone else since
        (a new generation, a deletion), which the watch's older events will not deliver now, a pass is queued."""
        if updated and updated.get("metadata", {}).get("uid") and self._keep(kept_fields(updated), ours=True):
            self.dispatch.submit(updated["metadata"]["uid"])

    def _keep(self, body: dict[str, Any], ours: bool) -> bool:
        """Keep ``body`` if it is newer than the kept version; whether it needs a pass (plan/versions.py)."""
        uid = body["metadata"]["uid"]
        with self._bodies_lock:
            if ours and uid not in self._bodies:
                return (
                    False  # the job left meanwhile (gone): the answer to a write of ours never brings it back
                )
            result = arrival(self._bodies.get(uid), body, ours)
            if result.keep:
                self._bodies[uid] = body
        if result.drift:
            self._drifted[uid] = sorted({*self._drifted.get(uid, []), *result.drift})
        return result.needs_pass

    def gone(self, uid: str) -> None:
        """The job left the API server: forget it (its task, if it had one, was stopped before its finalizer went)."""
        self._mark_finalized(uid)
        body = self._bodies.get(uid)
        self._drop(uid)
        if body is not None:
            self._wake_waiting(body["metadata"]["namespace"])

    def _peers_of(self, namespace: str) -> list[Peer]:
        """The namespace's jobs as the concurrency quota sees them (only computed where a quota is set)."""
        if not self._needs_peers(namespace):
            return []
        return [
            self._peer(body)
            for body in list(self._bodies.values())
            if body["metadata"]["namespace"] == namespace
        ]

    def _peer(self, body: dict[str, Any]) -> Peer:
        meta, spec = body["metadata"], body.get("spec") or {}
        status = body.get("status") or {}
        phase = status.get("phase")
        capacity = spec.get("capacity") or {}
        managed = capacity.get("type", "ec2") == "ec2" and not (
            capacity.get("provider") or self.settings.capacity_provider
        )
        return Peer(
            name=meta["name"],
            created=str(meta.get("creationTimestamp") or ""),
            active=phase not in FINISHED and not spec.get("suspend"),
            started=phase in ("Starting", "Running"),
            namespace=meta["namespace"],
            instances=int(capacity.get("maxInstances", 10)) if managed else 0,
            provider=str((status.get("aws") or {}).get("capacityProvider") or "") if managed else "",
        )

    def _operator_wait(self, body: dict[str, Any]) -> str | None:
        """Why the operator-wide ceilings (maxActiveJobs, maxManagedInstances) hold this job back, if they do.
        Every job is looked at only when a ceiling can bind (plan/policy.py needs_peers)."""
        me = self._peer(body)
        if not needs_peers(self.settings, me, len(self._bodies)):
            return None
        return operator_wait(self.settings, me, [self._peer(b) for b in list(self._bodies.values())])

    def _wake_waiting(self, namespace: str) -> None:
        """A slot of the namespace's concurrency quota (or of an operator-wide ceiling) may have freed: the jobs
        waiting for one get a pass now rather than at their next resync. Of the other namespaces' waiting jobs
        only the oldest few: a finished job frees one slot, and waking every waiting job would cost a pass each."""
        local = self._needs_peers(namespace)
        others: list[tuple[str, str]] = []
        for uid, body in list(self._bodies.items()):
            if (body.get("status") or {}).get("reason") != "QuotaExceeded":
                continue
            if local and body["metadata"]["namespace"] == namespace:
                self.dispatch.submit(uid)
            else:
                others.append((str(body["metadata"].get("creationTimestamp") or ""), uid))
        for _, uid in sorted(others)[:WAKE_OLDEST]:
            self.dispatch.submit(uid)

    def _reconcile_known(self, uid: str) -> None:
        body = self._bodies.get(uid)
        if body is None:
            return
        if body["metadata"].get("deletionTimestamp"):
            self.release(body)
        else:
            self.reconcile(body)

    def _watch(self, uid: str, cluster: str, arn: str) -> None:
        owner = self._owners.setdefault(arn, uid)
        if owner != uid:  # another job's task named in this job's status: its pass finds it foreign
            log.warning(
                "Not watching a task another job watches task=%s job uid=%s owner uid=%s", arn, uid, owner
            )
            return
        if self.task_events is not None:
            self.task_events.add_cluster(cluster)
        self.tracker.watch(cluster, arn)

    def _forget(self, arn: str, uid: str | None = None) -> None:
        """Stop tracking ``arn``; with ``uid``, only if that job is the one tracking it (a foreign ARN in a job's
        status must not end the real owner's tracking)."""
        if uid is not None and self._owners.get(arn, uid) != uid:
            return
        self._owners.pop(arn, None)
        self.tracker.forget(arn)

    def _describe(self, cluster: str, arns: list[str]) -> list[dict[str, Any]]:
        return self.ecs.describe_tasks(cluster, arns)

    def _cluster_of(self, status: dict[str, Any]) -> str:
        """The cluster the job's tasks run in: the one recorded in status, else the default."""
        return (status.get("aws") or {}).get("cluster") or self.settings.cluster

    # ----- reconcile -----------------------------------------------------------------------------------------

    @metrics.timed_handler("reconcile")
    def reconcile(self, body: dict[str, Any]) -> float | None:
        """One pass over a job. Returns seconds until something is due (or None)."""
        meta = body["metadata"]
        uid = meta["uid"]
        if uid in self._finalized:
            return None
        try:
            requeue, active = self._reconcile(body, self._peers_of(meta["namespace"]))
        except TransientError as exc:
            self._report_transient(body, exc)
            raise  # the dispatcher runs the pass again, with backoff
        if self._transient.pop(uid, 0) >= aws_retries.SHOW_AFTER:
            self._set_retrying(uid, False)
            status = self._status(body)
            stamp = now_rfc3339(_now())
            self._write(body, status, aws_retries.recovered(status, stamp, meta.get("generation")))
        if active:  # the safety net: a pass at least every resync interval while the job is not finished
            resync = self.settings.resync_seconds
            requeue = resync if requeue is None else min(requeue, resync)
        if requeue is not None:
            self.dispatch.later(uid, requeue)
        return requeue

    def _reconcile(self, body: dict[str, Any], peers: list[Peer]) -> tuple[float | None, bool]:
        meta = body["metadata"]
        status = self._status(body)
        status = self._report_drift(body, status)
        errors, spec = self._admit(body)
        policy = check_policy(spec, self.settings, meta["namespace"]) if spec is not None else []
        quota = quota_wait(
            self.settings, meta["namespace"], meta["name"], str(meta.get("creationTimestamp") or ""), peers
        )
        waiting = status.get("phase") not in FINISHED and _active_attempt(status) is None
        if quota is None and spec is not None and not policy and waiting:
            quota = self._operator_wait(body)
        job = plan.JobView(
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
                    self._stop_task(
                        action.cluster or self._cluster_of(status), action.task_arn, action.reason
                    )
                    self.events(
                        body, "Normal", "TaskStopped", f"stopped ECS task {action.task_arn}: {action.reason}"
                    )
                elif isinstance(action, plan.StopOwn):
                    self._stop_own(action.cluster or self._cluster_of(status), meta["uid"], action.reason)
            status = self._write(body, status, decision.status)
            requeue = decision.requeue_after
            again = False
            for action in decision.actions:
                status, more = self._act(body, job, status, action)
                again = again or more
            if not again:
                break
        return requeue, status.get("phase") not in FINISHED

    def _report_transient(self, body: dict[str, Any], exc: TransientError) -> None:
        """Count the job's failed passes in a row and show them (plan/aws_retries.py)."""
        uid, cause = body["metadata"]["uid"], exc.__cause__
        operation = cause.operation if isinstance(cause, AwsCallError) else "AWS"
        code = cause.code if isinstance(cause, AwsCallError) else type(cause or exc).__name__
        tries = self._transient[uid] = self._transient.get(uid, 0) + 1
        limit = self.settings.aws_retry_limit
        if not aws_retries.should_write(tries, limit):
            return
        self._set_retrying(uid, True)
        status = self._status(body)
        if status.get("phase") in FINISHED:
            return
        stamp, generation = now_rfc3339(_now()), body["metadata"].get("generation")
        new = aws_retries.retrying(status, operation, code, tries, str(exc), limit, stamp, generation)
        if new.get("phase") in FINISHED:
            active = _active_attempt(new)
            if active is not None:  # the attempt never reached RunTask (the call that failed came before it)
                active["finishedAt"], active["reason"] = stamp, "AwsUnavailable"
        try:
            self._write(body, status, new)
        except Exception as write_error:  # the API server may be the trouble; the pass is retried anyway
            log.warning(
                "Writing the AwsRetrying condition failed job=%s: %s", body["metadata"]["name"], write_error
            )

    def _set_retrying(self, uid: str, retrying: bool) -> None:
        (self._retrying.add if retrying else self._retrying.discard)(uid)
        metrics.AWS_RETRYING.set(len(self._retrying))

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
        cached = self._admitted.get(meta["uid"])
        if cached is not None and cached.generation == meta.get("generation"):
            return cached.errors, cached.spec
        errors = check_job(body, self.settings)
        spec = parse_spec(body["spec"]) if not errors else None
        if cached is not None and (body.get("status") or {}).get("phase"):
            # an accepted spec stays in effect (immutable but for spec.suspend)
            errors, spec = spec_in_effect(cached.spec, errors, spec, body["spec"].get("suspend", False))
        if spec is not None:  # the namespace's default task role, the default deadline (plan/policy.py)
            spec = with_defaults(spec, self.settings, meta["namespace"])
        self._admitted[meta["uid"]] = _Admitted(meta.get("generation"), errors, spec)
        return errors, spec

    def _report_drift(self, body: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        """A spec change that got past the API server (no CEL there) to a job already accepted: keep running, say
        so in a condition and an Event. The changed fields were found by ``observe`` (old body against new)."""
        meta = body["metadata"]
        fields = self._drifted.pop(meta["uid"], None)
        if not fields or not status.get("phase"):
            return status
        new = self._write(
            body, status, with_drift(status, fields, now_rfc3339(_now()), meta.get("generation"))
        )
        self.events(body, "Warning", "SpecImmutable", new["conditions"][-1]["message"])
        return new

    def _act(self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], action: Any):
        cluster = self._cluster_of(status)
        if isinstance(action, plan.Start):
            return self._start(body, job, status, action.attempt), False
        if isinstance(action, plan.Adopt):
            return self._adopt(body, job, status, action.attempt, cluster)
        if isinstance(action, plan.Watch):
            self._watch(job.uid, action.cluster or cluster, action.task_arn)
        elif isinstance(action, plan.Forget):
            self._forget(action.task_arn, job.uid)
        elif isinstance(action, plan.Stop):
            pass  # done before the status write (see _reconcile)
        elif isinstance(action, plan.CollectOutputs):
            pass  # done before the status write, so outputs land in the same patch as Succeeded
        elif isinstance(action, plan.DeleteJob):
            log.info("Deleted ODMJob after ttlSecondsAfterFinished job=%s/%s", job.namespace, job.name)
            self.kube.delete(job.namespace, job.name)
        return status, False

    def _start(
        self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], attempt: int
    ) -> dict[str, Any]:
        spec = job.spec
        assert spec is not None
        self._hold(body)
        now = _now()
        try:
            dataset = self._dataset(spec, status)
            size = resolve_size(spec, dataset.images if dataset else None)
        except _InputError as exc:
            return self._fail_attempt(body, status, attempt, "InputUnavailable", str(exc), now)
        except SizingError as exc:
            return self._fail_attempt(body, status, attempt, "InvalidSpec", str(exc), now)
        size, problem = escalated(
            size,
            plan.escalations(status),
            spec.capacity.type == "fargate",
            to_mib(self.settings.memory_ceiling),
            self.settings.memory_ceiling,
        )
        if problem:
            return self._fail_attempt(body, status, attempt, "OutOfMemory", problem, now)
        written, status = status, self._record_size(status, attempt, size, dataset)
        cap = capacity(spec, self.settings, size)
        if cap.kind == "managed" and spec.capacity.max_instances == 0:
            message = (
                "spec.capacity.maxInstances is 0, so the Auto Scaling group can never start an instance; "
                "set it to 1 or more"
            )
            return self._fail_attempt(body, written, attempt, "CapacityUnavailable", message, now)
        ref = JobRef(job.namespace, job.name, job.uid)
        try:
            task, failures = self._launch(body, spec, size, cap, ref, attempt)
        except AwsCallError as exc:
            if exc.code == QUOTA_FULL:
                return self._write(
                    body,
                    written,
                    plan.waiting_for_capacity(written, attempt, exc.message, now, job.generation),
                )
            if exc.kind == "transient":
                raise TransientError(exc.message) from exc
            reason = (
                "AccessDenied"
                if "AccessDenied" in exc.code or "Unauthorized" in exc.code
                else "AwsRequestFailed"
            )
            new = plan.after_run_failure(
                status, attempt, reason, exc.message, exc.kind == "retryable", now, job.generation
            )
            return self._write(body, written, new)
        if task is not None:
            observed = from_run_task(task, now_rfc3339())
            self.tracker.record(observed)
            self._watch(job.uid, cap.cluster, observed.arn)
            log.info(
                "Started task job=%s/%s attempt=%d task=%s", job.namespace, job.name, attempt, observed.arn
            )
            self.events(body, "Normal", "TaskStarted", _task_message(attempt, observed, "started"))
            new = plan.after_run_task(
                status, attempt, observed, now, job.generation, self.settings.log_stream_prefix
            )
            return self._write(body, written, new)
        failure = (
            failures[0] if failures else {"reason": "RESOURCE:UNKNOWN", "detail": "RunTask placed no task"}
        )
        reason = str(failure.get("reason", ""))
        message = f"RunTask failed: {reason} {failure.get('detail') or ''}".strip()
        retryable = classify_run_failure(reason) == "retryable"
        new = plan.after_run_failure(
            status,
            attempt,
            "CapacityUnavailable" if retryable else "RunTaskFailed",
            message,
            retryable,
            now,
            job.generation,
        )
        return self._write(body, written, new)

    def _adopt(
        self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], attempt: int, cluster: str
    ) -> tuple[dict[str, Any], bool]:
        try:
            tasks = self.ecs.tasks_started_by(cluster, contract.started_by(job.uid))
        except AwsCallError as exc:
            raise TransientError(exc.message) from exc
        seen = now_rfc3339()
        mine = [from_describe(t, observed_at=seen) for t in tasks]
        mine = [t for t in mine if t.attempt == attempt and foreign(t, job.uid) is None]
        if not mine:
            log.info("Found no task to adopt job=%s/%s attempt=%d", job.namespace, job.name, attempt)
            return self._start(body, job, status, attempt), True
        task = mine[0]
        self.tracker.record(task)
        self._watch(job.uid, cluster, task.arn)
        log.info("Adopted task job=%s/%s attempt=%d task=%s", job.namespace, job.name, attempt, task.arn)
        self.events(body, "Normal", "TaskAdopted", _task_message(attempt, task, "found (adopted)"))
        new = plan.after_run_task(
            status, attempt, task, _now(), job.generation, self.settings.log_stream_prefix
        )
        return self._write(body, status, new), True

    def _hold(self, body: dict[str, Any]) -> None:
        """Put the operator's finalizer on the job before any task can exist for it, so that deleting the job waits
        for the task to be stopped. Raises when it cannot (the job is gone, being deleted, or changed since the
        newest version we know: its event brings a new pass); no task is started then."""
        # The kept version, not the pass's body: the pass's own status write may have replaced it already.
        newest = self._bodies.get(body["metadata"]["uid"]) or body
        if FINALIZER in (newest["metadata"].get("finalizers") or []):
            return
        self._remember(
            self.kube.add_finalizer(newest["metadata"], FINALIZER, newest["metadata"]["resourceVersion"])
        )

    def _launch(self, body: dict[str, Any], spec: Any, size: TaskSize, cap: Any, ref: JobRef, attempt: int):
        """Ensure the cluster, capacity, log group and task definition, then RunTask: (task or None, failures).

        A managed provider is held against the janitor until RunTask answers (it has no task until then). When ECS
        answers that the provider is not associated with the cluster (someone replaced the cluster's provider list
        since we attached it), the caches are dropped, the provider attached again and RunTask asked once more
        with the same clientToken."""
        held = self.janitor.using(cap.provider) if cap.kind == "managed" else contextlib.nullcontext()
        with held:
            try:
                return self._run_task(body, spec, size, cap, ref, attempt)
            except AwsCallError as exc:
                if not provider_not_associated(exc):
                    raise
                log.warning("Capacity provider left the cluster, attaching it again: %s", exc.message)
                self.ecs.forget_cluster(cap.cluster)
                if cap.provider:
                    self.capacity.forget(cap.cluster, cap.provider)
            return self._run_task(body, spec, size, cap, ref, attempt)

    def _run_task(self, body: dict[str, Any], spec: Any, size: TaskSize, cap: Any, ref: JobRef, attempt: int):
        self._ensure_capacity(body, cap)
        self.logs.ensure_group(self.settings.log_group)
        td_arn = self.ecs.ensure_task_definition(task_definition(spec, self.settings, size))
        return self.ecs.run_task(run_task(spec, self.settings, ref, attempt, td_arn, cap, size))

    def _ensure_capacity(self, body: dict[str, Any], cap: Any) -> None:
        self.ecs.ensure_cluster(cap.cluster, self.settings.create_cluster, cap.kind == "fargate")
        if cap.kind == "existing":
            self.capacity.ensure_attached(cap.cluster, cap.provider)
        if cap.kind == "managed":
            self._provider_clusters[cap.provider] = cap.cluster
            if self.capacity.ensure(cap.cluster, cap.provider, cap.requests):
                message = f"created capacity provider {cap.provider} (Auto Scaling group and launch template)"
                self.events(body, "Normal", "CapacityCreated", message)

    def _fail_attempt(
        self,
        body: dict[str, Any],
        status: dict[str, Any],
        attempt: int,
        reason: str,
        message: str,
        now: datetime,
    ) -> dict[str, Any]:
        new = plan.after_run_failure(
            status, attempt, reason, message, False, now, body["metadata"].get("generation")
        )
        return self._write(body, status, new)

    def _record_size(
        self, status: dict[str, Any], attempt: int, size: TaskSize, dataset: Dataset | None
    ) -> dict[str, Any]:
        """The attempt's memory, and status.sizing when resources came from the dataset (written with the ARN)."""
        new = copy.deepcopy(status)
        entry = next(a for a in new["attempts"] if a["number"] == attempt)
        entry["memory"] = format_mib(size.memory_mib)
        if size.sizing is not None and dataset is not None:
            new["sizing"] = {
                "images": size.sizing.images,
                "bytes": dataset.bytes,
                "rule": size.sizing.rule,
                "cpu": size.sizing.cpu,
                "memory": size.sizing.memory,
                "disk": size.sizing.disk,
            }
        return new

    def _outputs(self, output_uri: str) -> dict[str, Any]:
        uri = parse_s3_uri(output_uri)
        try:
            return outputs_from(uri.normalized, self.s3.list_prefix(uri.bucket, uri.prefix))
        except AwsCallError as exc:
            if exc.kind == "transient":
                raise TransientError(exc.message) from exc
            log.warning("Listing outputs failed uri=%s code=%s", output_uri, exc.code)
            return {}

    def _dataset(self, spec: Any, status: dict[str, Any]) -> Dataset | None:
        """Images under the input prefix, when the job is sized from its dataset (no spec.resources). Listed once:
        later attempts (retries, memory escalation) reuse the count recorded in status.sizing."""
        if spec.resources is not None:
            return None
        known = status.get("sizing")
        if known and known.get("images"):
            return Dataset(int(known["images"]), int(known.get("bytes", 0)))
        uri = parse_s3_uri(spec.input.s3_uri)
        try:
            dataset = self.s3.count_images(uri.bucket, uri.prefix)
        except AwsCallError as exc:
            if exc.kind == "transient":
                raise TransientError(exc.message) from exc
            raise _InputError(f"cannot list {spec.input.s3_uri}: {exc.message}") from exc
        if dataset.images == 0:
            raise _InputError(
                f"the input prefix {spec.input.s3_uri} holds no images (jpg, jpeg, tif, tiff, png, dng)"
            )
        return dataset

    def _stop_own(self, cluster: str, uid: str, reason: str) -> None:
        """Stop the tasks ECS lists as started by job ``uid`` (and whose own record says so)."""
        try:
            tasks = [from_describe(t) for t in self.ecs.tasks_started_by(cluster, contract.started_by(uid))]
        except AwsCallError as exc:
            raise TransientError(exc.message) from exc
        for task in tasks:
            if not task.stopped and foreign(task, uid) is None:
                self._stop_task(cluster, task.arn, reason)

    def _stop_task(self, cluster: str, arn: str, reason: str) -> None:
        try:
            self.ecs.stop_task(cluster, arn, reason)
        except AwsCallError as exc:
            raise TransientError(exc.message) from exc

    # ----- delete --------------------------------------------------------------------------------------------

    def release(self, body: dict[str, Any]) -> None:
        """A job being deleted: stop its task, then remove the operator's finalizer (if it is on)."""
        meta = body["metadata"]
        finalizers = meta.get("finalizers") or []
        if FINALIZER not in finalizers:
            return  # no task was ever started for it (the finalizer goes on first)
        self.finalize(body)
        self.kube.remove_finalizer(meta, FINALIZER, finalizers.index(FINALIZER))

    @metrics.timed_handler("finalize")
    def finalize(self, body: dict[str, Any]) -> None:
        """Stop the job's task (if any) before the finalizer is removed. A finished job costs no AWS call."""
        meta = body["metadata"]
        if meta["uid"] in self._finalized:
            return  # stopped already; only the finalizer's removal failed
        status = self._status(body)
        active = _active_attempt(status)
        cluster = self._cluster_of(status)
        if active is not None and status.get("phase") not in FINISHED:
            reason = f"odm-operator: ODMJob {meta['namespace']}/{meta['name']} was deleted"
            known = self.tracker.get(active.get("taskArn"))
            if known is not None and foreign(known, meta["uid"]) is None:
                arns = [known.arn]  # the tracker's last answer says it is this job's
            else:  # in flight, not yet described, or another job's ARN in status: find this job's own
                try:
                    tasks = self.ecs.tasks_started_by(cluster, contract.started_by(meta["uid"]))
                except AwsCallError as exc:
                    raise TransientError(exc.message) from exc
                seen = [from_describe(t) for t in tasks]
                arns = [t.arn for t in seen if not t.stopped and foreign(t, meta["uid"]) is None]
                if known is not None and known.arn not in arns and foreign(known, meta["uid"]):
                    log.warning(
                        "Left alone a task of another job named in status job=%s/%s: %s",
                        meta["namespace"],
                        meta["name"],
                        foreign(known, meta["uid"]),
                    )
            for arn in arns:
                self._stop_task(cluster, arn, reason)
                self._forget(arn, meta["uid"])
                log.info(
                    "Stopped task of deleted job job=%s/%s task=%s", meta["namespace"], meta["name"], arn
                )
        self._mark_finalized(meta["uid"])  # a later pass of the job sees it is gone

    def _mark_finalized(self, uid: str) -> None:
        self._finalized[uid] = None
        while len(self._finalized) > MAX_FINALIZED:
            self._finalized.pop(next(iter(self._finalized)))

    def _drop(self, uid: str) -> None:
        for cache in (self._bodies, self._admitted, self._drifted, self._transient):
            cache.pop(uid, None)
        self.dispatch.cancel(uid)
        metrics.forget_job(uid)
        self._set_retrying(uid, False)

    # ----- status --------------------------------------------------------------------------------------------

    def _status(self, body: dict[str, Any]) -> dict[str, Any]:
        """The newest status we know (the kept body folds in our own writes), as a copy the pass may change."""
        newest = self._bodies.get(body["metadata"]["uid"]) or body
        return copy.deepcopy(dict(newest.get("status") or {}))

    def _write(self, body: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        metrics.observe_job(body, old, new)  # phases, attempts, finished jobs and their durations
        patch = merge_patch(old, new)
        if not patch:
            return new
        if only_live_fields_changed(old, new):
            return old  # written with the next real change (see plan/status.py)
        meta = body["metadata"]
        self._remember(self.kube.patch_status(meta["namespace"], meta["name"], patch))
        if phase_changed(old, new):
            if new.get("phase") in FINISHED:
                self._wake_waiting(meta["namespace"])
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


class _InputError(Exception):
    pass


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


def _task_message(attempt: int, task: Any, what: str) -> str:
    """The Event text naming an attempt's ECS task, as a Job's SuccessfulCreate names its pod."""
    where = f" on {task.capacity_provider}" if task.capacity_provider else ""
    definition = (
        f", task definition {task.task_definition_arn.rsplit('/', 1)[-1]}" if task.task_definition_arn else ""
    )
    return f"attempt {attempt}: {what} ECS task {task.arn}{where}{definition}"


def _active_attempt(status: dict[str, Any]) -> dict[str, Any] | None:
    attempts = status.get("attempts") or []
    if attempts and not attempts[-1].get("finishedAt"):
        return attempts[-1]
    return None


def _now() -> datetime:
    return datetime.now(UTC)


__all__ = ["Runtime", "TransientError", "kept_fields"]
