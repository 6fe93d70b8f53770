"""Executing a Start or an Adopt: the finalizer, the input listing, the cluster, capacity, log group and task
definition, RunTask; or ListTasks for the attempt in flight. The facts go to plan/launch.py, which decides."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from ..api.validation import parse_s3_uri
from ..aws.capacity_providers import CapacityGateway
from ..aws.ecs import EcsGateway
from ..aws.errors import AwsCallError, provider_not_associated, retries_pass, run_failure, status_reason
from ..aws.logs import LogsGateway
from ..aws.s3 import S3Gateway
from ..plan import launch as plan_launch
from ..plan.decision import Adopt, Decision, JobView, Start
from ..plan.desired import run_task
from ..plan.launch import CallFailure, InputListing, Launch, RunResult
from ..plan.observed import from_run_task
from ..plan.status import now_rfc3339
from ..plan.types import DesiredCapacity
from ..settings import Settings
from .errors import retry_later
from .janitor import Janitor
from .job_writer import JobWriter
from .kube_events import EventFn
from .tasks import Tasks

log = logging.getLogger(__name__)


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

    def start(self, body: dict[str, Any], job: JobView, status: dict[str, Any], action: Start) -> Decision:
        """The attempt is written as in flight: hold the job with the finalizer, then size it and RunTask."""
        spec = job.spec
        assert spec is not None
        self.writer.hold(body)
        now = datetime.now(UTC)
        listing = self._list_input(spec.input.s3_uri) if plan_launch.needs_listing(spec, status) else None
        prepared = plan_launch.prepare(job, status, action.attempt, listing, self.settings, now)
        if prepared.launch is None:
            assert prepared.decision is not None
            return prepared.decision
        result = self._run(body, prepared.launch)
        return plan_launch.launched(
            job, status, prepared.launch, result, now, self.settings.log_stream_prefix
        )

    def adopt(self, body: dict[str, Any], job: JobView, status: dict[str, Any], action: Adopt) -> Decision:
        cluster = (status.get("aws") or {}).get("cluster") or self.settings.cluster
        tasks = self.tasks.started_by(cluster, job.uid, observed_at=now_rfc3339())
        log.info(
            "Listed tasks to adopt job=%s/%s attempt=%d started_by_job=%d",
            job.namespace,
            job.name,
            action.attempt,
            len(tasks),
        )
        now = datetime.now(UTC)
        return plan_launch.adopted(job, status, action, cluster, tasks, now, self.settings.log_stream_prefix)

    def _list_input(self, uri: str) -> InputListing:
        where = parse_s3_uri(uri)
        try:
            dataset = self.s3.count_images(where.bucket, where.prefix)
        except AwsCallError as exc:
            if retries_pass(exc):
                raise retry_later(exc) from exc
            return InputListing(error=exc.message)
        return InputListing(dataset.images, dataset.bytes)

    def _run(self, body: dict[str, Any], launch: Launch) -> RunResult:
        try:
            task, failures = self._launch(body, launch)
        except AwsCallError as exc:
            if retries_pass(exc):
                raise retry_later(exc) from exc
            return RunResult(error=CallFailure(status_reason(exc), exc.message, exc.kind == "retryable"))
        if task is not None:
            return RunResult(task=from_run_task(task, now_rfc3339()))  # as seen at its creation (observed.py)
        failure, retryable = run_failure(failures)
        return RunResult(failure=failure, failure_retryable=retryable)

    def _launch(
        self, body: dict[str, Any], launch: Launch
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Ensure the cluster, capacity, log group and task definition, then RunTask: (task or None, failures).

        A managed provider is held against the janitor until RunTask answers (it has no task until then). When ECS
        answers that the provider is not associated with the cluster (someone replaced the cluster's provider list
        since we attached it), the caches are dropped, the provider attached again and RunTask asked once more
        with the same clientToken."""
        cap = launch.capacity
        held = self.janitor.using(cap.provider) if cap.kind == "managed" else contextlib.nullcontext()
        with held:
            try:
                return self._run_task(body, launch)
            except AwsCallError as exc:
                if not provider_not_associated(exc):
                    raise
                log.warning("Capacity provider left the cluster, attaching it again: %s", exc.message)
                self.ecs.forget_cluster(cap.cluster)
                if cap.provider:
                    self.capacity.forget(cap.cluster, cap.provider)
            return self._run_task(body, launch)

    def _run_task(
        self, body: dict[str, Any], launch: Launch
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        self._ensure_capacity(body, launch.capacity)
        self.logs.ensure_group(self.settings.log_group)
        td_arn = self.ecs.ensure_task_definition(launch.task_definition)
        request = run_task(
            launch.spec, self.settings, launch.ref, launch.attempt, td_arn, launch.capacity, launch.size
        )
        return self.ecs.run_task(request)

    def _ensure_capacity(self, body: dict[str, Any], cap: DesiredCapacity) -> None:
        self.ecs.ensure_cluster(cap.cluster, self.settings.create_cluster, cap.kind == "fargate")
        if cap.kind == "existing":
            self.capacity.ensure_attached(cap.cluster, cap.provider)
        if cap.kind == "managed":
            self._provider_clusters[cap.provider] = cap.cluster
            if self.capacity.ensure(cap.cluster, cap.provider, cap.requests):
                message = f"created capacity provider {cap.provider} (Auto Scaling group and launch template)"
                self.events(body, "Normal", "CapacityCreated", message)
