"""Starting an attempt: the finalizer, the dataset's size, the capacity, log group and task definition, RunTask;
and adopting the task of an attempt that was in flight when the operator stopped."""

from __future__ import annotations

import contextlib
import copy
import logging
from datetime import UTC, datetime
from typing import Any

from ..api.quantity import format_mib, to_mib
from ..api.validation import parse_s3_uri
from ..aws.capacity_providers import QUOTA_FULL, CapacityGateway
from ..aws.ecs import EcsGateway
from ..aws.errors import AwsCallError, classify_run_failure, provider_not_associated
from ..aws.logs import LogsGateway
from ..aws.s3 import Dataset, S3Gateway
from ..plan import reconcile as plan
from ..plan.desired import capacity, resolve_size, run_task, task_definition
from ..plan.observed import from_describe
from ..plan.ownership import foreign
from ..plan.sizing import SizingError, escalated
from ..plan.status import now_rfc3339
from ..plan.types import JobRef, TaskSize
from ..settings import Settings
from .errors import retry_later
from .janitor import Janitor
from .job_writer import JobWriter
from .kube_events import EventFn
from .tasks import Tasks

log = logging.getLogger(__name__)


class _InputError(Exception):
    pass


class Launcher:
    def __init__(
        self,
        settings: Settings,
        ecs: EcsGateway,
        logs: LogsGateway,
        s3: S3Gateway,
        capacity: CapacityGateway,
        janitor: Janitor,
        tasks: Tasks,
        writer: JobWriter,
        events: EventFn,
        provider_clusters: dict[str, str],
    ):
        self.settings = settings
        self.ecs = ecs
        self.logs = logs
        self.s3 = s3
        self.capacity = capacity
        self.janitor = janitor
        self.tasks = tasks
        self.writer = writer
        self.events = events
        self._provider_clusters = provider_clusters

    def start(
        self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], attempt: int
    ) -> dict[str, Any]:
        spec = job.spec
        assert spec is not None
        self.writer.hold(body)
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
        written, status = status, _record_size(status, attempt, size, dataset)
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
                return self.writer.write(
                    body,
                    written,
                    plan.waiting_for_capacity(written, attempt, exc.message, now, job.generation),
                )
            if exc.kind == "transient":
                raise retry_later(exc) from exc
            reason = (
                "AccessDenied"
                if "AccessDenied" in exc.code or "Unauthorized" in exc.code
                else "AwsRequestFailed"
            )
            new = plan.after_run_failure(
                status, attempt, reason, exc.message, exc.kind == "retryable", now, job.generation
            )
            return self.writer.write(body, written, new)
        if task is not None:
            observed = from_describe(task, observed_at=now_rfc3339())
            self.tasks.tracker.record(observed)
            self.tasks.watch(job.uid, cap.cluster, observed.arn)
            log.info(
                "Started task job=%s/%s attempt=%d task=%s", job.namespace, job.name, attempt, observed.arn
            )
            self.events(body, "Normal", "TaskStarted", task_message(attempt, observed, "started"))
            new = plan.after_run_task(
                status, attempt, observed, now, job.generation, self.settings.log_stream_prefix
            )
            return self.writer.write(body, written, new)
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
        return self.writer.write(body, written, new)

    def adopt(
        self, body: dict[str, Any], job: plan.JobView, status: dict[str, Any], attempt: int, cluster: str
    ) -> tuple[dict[str, Any], bool]:
        mine = self.tasks.started_by(cluster, job.uid, observed_at=now_rfc3339())
        mine = [t for t in mine if t.attempt == attempt and foreign(t, job.uid) is None]
        if not mine:
            log.info("Found no task to adopt job=%s/%s attempt=%d", job.namespace, job.name, attempt)
            return self.start(body, job, status, attempt), True
        task = mine[0]
        self.tasks.tracker.record(task)
        self.tasks.watch(job.uid, cluster, task.arn)
        log.info("Adopted task job=%s/%s attempt=%d task=%s", job.namespace, job.name, attempt, task.arn)
        self.events(body, "Normal", "TaskAdopted", task_message(attempt, task, "found (adopted)"))
        new = plan.after_run_task(
            status, attempt, task, _now(), job.generation, self.settings.log_stream_prefix
        )
        return self.writer.write(body, status, new), True

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
        return self.writer.write(body, status, new)

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
                raise retry_later(exc) from exc
            raise _InputError(f"cannot list {spec.input.s3_uri}: {exc.message}") from exc
        if dataset.images == 0:
            raise _InputError(
                f"the input prefix {spec.input.s3_uri} holds no images (jpg, jpeg, tif, tiff, png, dng)"
            )
        return dataset


def _record_size(
    status: dict[str, Any], attempt: int, size: TaskSize, dataset: Dataset | None
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


def task_message(attempt: int, task: Any, what: str) -> str:
    """The Event text naming an attempt's ECS task, as a Job's SuccessfulCreate names its pod."""
    where = f" on {task.capacity_provider}" if task.capacity_provider else ""
    definition = (
        f", task definition {task.task_definition_arn.rsplit('/', 1)[-1]}" if task.task_definition_arn else ""
    )
    return f"attempt {attempt}: {what} ECS task {task.arn}{where}{definition}"


def _now() -> datetime:
    return datetime.now(UTC)
