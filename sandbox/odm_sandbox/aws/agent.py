"""The simulated ECS agent: the part of AWS that moto does not emulate.

moto stores tasks but never runs them: a task stays RUNNING (or advances one step per DescribeTasks), only its
first container exists, nothing has an exit code, and RunTask on an empty capacity provider fails. The agent
owns the lifecycle instead (moto's ``ecs::task`` state transitions are set to manual by the sandbox): it
scales capacity providers out (managed_scaling.py), moves each task PROVISIONING -> PENDING -> ACTIVATING -> RUNNING
-> DEACTIVATING -> STOPPING -> DEPROVISIONING -> STOPPED with the timestamps, ``version`` and stop codes ECS
reports, and runs the three containers with ODM's semantics (odm_run.py, staging.py): stage-in lists the input
prefix, odm writes its stage lines to CloudWatch Logs and may run out of memory, stage-out uploads the
products.

Everything happens on moto's in-process backends under one lock shared with the HTTP server, from a thread
that ticks every ``tick_s`` real seconds and processes only the events that fell due (a heap), so a thousand
active tasks cost a few microseconds each per tick rather than a core.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends

from odm_operator import contract

from . import odm_log, odm_products, odm_remote, odm_run, staging
from .clock import SimClock
from .log_sink import LogSink
from .managed_scaling import CapacityManager
from .task_run import FARGATE_PROVIDERS, TaskRun
from .timings import Timings

log = logging.getLogger(__name__)

# Stop codes and the reasons ECS gives with them (reference/ecs-odm-facts.md sections 1-2, AWS knowledge
# center "Why is my Amazon ECS task stopped?").
ESSENTIAL_EXITED = "EssentialContainerExited"
ESSENTIAL_EXITED_REASON = "Essential container in task exited"
USER_INITIATED = "UserInitiated"
USER_STOP_DEFAULT_REASON = "Task stopped by user"
SPOT_INTERRUPTION = "SpotInterruption"
SPOT_INTERRUPTION_REASON = "Your Spot Task was interrupted."
# EC2: draining does not stop standalone tasks ("Container instance draining": they "aren't affected"); the task
# dies with its host, without exit codes, and this reason (ECS "Stopped tasks errors": "Host EC2 (instance
# i-1234567890abcdef0) stopped/terminated."). No stop code is reported for it here.
HOST_TERMINATED_REASON = "Host EC2 (instance {}) terminated."
# The ECS cluster query expression the agent understands in memberOf placement constraints.
ONLY_ON_IDLE_INSTANCE = "runningTasksCount == 0"
# Docker Hub's answer to a pull over its anonymous rate limit, as ECS reports it (CannotPullContainerError, seen
# in aws/containers-roadmap#1270 and Docker's "Docker Hub usage and limits"); images of other registries pull.
PULL_THROTTLED_REASON = (
    "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref {}: "
    "unexpected status from HEAD request: 429 Too Many Requests - toomanyrequests: You have reached your pull "
    "rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"
)
TASK_FAILED_TO_START = "TaskFailedToStart"
EMPTY_CAPACITY_PROVIDER_REASON = "TaskFailedToStart: EMPTY CAPACITY PROVIDER"

# Exit code of a process that ends on SIGTERM (128 + 15).
SIGTERM_EXIT_CODE = 143
# Docker's reason when the kernel OOM-killed a process of the container.
OOM_CONTAINER_REASON = "OutOfMemoryError: Container killed due to memory usage"
# ECS caps container ``reason`` at 1024 characters.
MAX_REASON_CHARS = 1024
# Fargate's current Linux platform.
FARGATE_PLATFORM_VERSION = "1.4.0"
# Errors kept for tests and the control API; older ones are dropped.
MAX_ERRORS = 50
# Ticks between full passes over the tasks waiting for capacity (changes to a group are not signalled);
# cheap, since only providers with waiting tasks are looked at.
CAPACITY_RECHECK_TICKS = 5
# ODM prints its start and end time like this (Python's time.ctime()).
ODM_TIME_FORMAT = "%a %b %d %H:%M:%S %Y"

Event = tuple[float, int, "TaskRun | None", int, Callable[[float], None]]


class SimulatedEcsAgent:
    def __init__(
        self,
        clock: SimClock,
        lock: threading.RLock,
        timings: Timings | None = None,
        tick_s: float = 0.05,
    ) -> None:
        self.clock = clock
        self.lock = lock
        self.timings = timings or Timings()
        self.tick_s = tick_s
        self.errors: list[str] = []
        self.busy_s = 0.0  # real seconds spent in tick(), to check the agent does not burn a core
        self.ticks = 0
        self._events: list[Event] = []
        self._seq = itertools.count()
        self._runs: dict[str, TaskRun] = {}
        self._logs = LogSink()
        self._capacity = CapacityManager(self._schedule_free, self._placed, self.timings)
        self._stop = threading.Event()
        # ODM failures queued per job ("<namespace>/<name>") by the control API; each is used by one ODM run.
        self.odm_failures: dict[str, list[odm_run.Failure]] = {}
        # Called with the task whenever its version rises: the ECS Task State Change event (task_events.py).
        self.on_version: Callable[[Any], None] | None = None
        self._thread: threading.Thread | None = None
        self.pull_limited = False  # Docker Hub answers toomanyrequests (the control API's POST /pull-limit)

    # Thread.

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="odm-sandbox-ecs-agent", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            with self.lock:
                self.tick()

    def tick(self) -> None:
        """Process what fell due; the caller holds ``lock`` (the loop does)."""
        started = time.perf_counter()
        try:
            self._tick()
        finally:
            self.busy_s += time.perf_counter() - started
            self.ticks += 1

    def _tick(self) -> None:
        now = self.clock.now()
        while self._events and self._events[0][0] <= now:
            at, _, run, epoch, action = heapq.heappop(self._events)
            if run is not None and run.epoch != epoch:
                continue  # scheduled before the task was told to stop
            try:
                action(at)
            except Exception as exc:  # one broken task must not stop the agent
                self._record_error(f"{getattr(run, 'arn', 'agent')}: {exc!r}")
        try:
            if self.ticks % CAPACITY_RECHECK_TICKS == 0:
                self._capacity.recheck()
            self._capacity.tick(now)
            self._logs.flush()
        except Exception as exc:
            self._record_error(f"agent: {exc!r}")

    def set_timings(self, timings: Timings) -> None:
        """New durations for what is scheduled from now on."""
        self.timings = timings
        self._capacity.timings = timings

    def reset(self) -> None:
        self._events.clear()
        self._runs.clear()
        self._capacity.reset()
        self._logs.clear()
        self.errors.clear()
        self.odm_failures.clear()
        self.pull_limited = False

    # What the sandbox and tests ask.

    @property
    def active_tasks(self) -> int:
        return len(self._runs)

    @property
    def waiting_for_capacity(self) -> int:
        return self._capacity.waiting_count()

    def instances(self) -> list[Any]:
        return self._capacity.instances()

    def find_task(self, namespace: str, name: str) -> str | None:
        """The ARN of the active task tagged with this ODMJob (contract.TAG_JOB_NAMESPACE/NAME)."""
        for run in self._runs.values():
            if run.stopping:
                continue
            tags = {tag.get("key"): tag.get("value") for tag in run.task.tags or []}
            if tags.get(contract.TAG_JOB_NAMESPACE) == namespace and tags.get(contract.TAG_JOB_NAME) == name:
                return run.arn
        return None

    def interrupt(self, task_arn: str) -> bool:
        """Spot-interrupt a started task (and every task on its instance); False when none is running."""
        run = self._run_for(task_arn)
        if run is None or run.stopping or run.status not in ("PENDING", "ACTIVATING", "RUNNING"):
            return False
        now = self.clock.now()
        inst = run.instance
        if inst is None:  # Fargate Spot: a two-minute warning, then SIGTERM, stop code SpotInterruption
            self._begin_stop(run, now, SPOT_INTERRUPTION, SPOT_INTERRUPTION_REASON, SIGTERM_EXIT_CODE)
            return True
        # EC2 Spot: the instance is reclaimed; its tasks stop with it, no stop code, no exit codes.
        reason = HOST_TERMINATED_REASON.format(inst.ec2_id)
        for other_arn in sorted(inst.runs | {run.arn}):
            other = self._runs.get(other_arn)
            if other is not None and not other.stopping:
                self._begin_stop(other, now, None, reason, None)
        self._capacity.reclaim(inst)
        return True

    # Hooks called by the ECS backend patches, inside a request (the lock is held).

    def adopt(self, backend: Any, task: Any, placement: list[dict[str, Any]] | None = None) -> None:
        """A task RunTask just created: complete it as ECS would show it, then schedule its life."""
        task_definition = backend.describe_task_definition(task.task_definition_arn)
        provider = task.capacity_provider_name
        if provider in FARGATE_PROVIDERS or task.launch_type == "FARGATE":
            kind = "fargate"
        elif provider:
            kind = "ec2"
        else:
            kind = "standalone"
        run = TaskRun(backend, task, task_definition, kind, provider)
        run.exclusive = any(
            c.get("type") == "memberOf"
            and " ".join(str(c.get("expression", "")).split()) == ONLY_ON_IDLE_INSTANCE
            for c in placement or []
        )
        now = self.clock.now()
        run.created_at = now
        task.containers = list(run.containers.values())
        task.created_at = self.clock.wall(now)
        task.version = 1
        task.desired_status = "RUNNING"
        task.cpu = run.task_level("cpu") or str(run.needs.cpu)
        task.memory = run.task_level("memory") or str(run.needs.memory)
        task.launch_type = "FARGATE" if kind == "fargate" else "EC2"
        for name in ("stop_code", "stopped_reason", "stopping_at", "execution_stopped_at", "stopped_at"):
            setattr(task, name, None)  # ECS shows these only once the task stops
        self._attach_network(run)
        if kind == "fargate":
            task.platform_version = task.platform_version or FARGATE_PLATFORM_VERSION
            task.platform_family = "Linux"
        self._runs[run.arn] = run
        if kind == "fargate":
            task.last_status = "PROVISIONING"
            self._schedule(
                run, now + self.timings.fargate_provisioning_s, lambda at: self._to_pending(run, at)
            )
        elif kind == "ec2":
            task.last_status = "PROVISIONING"
            self._capacity.enqueue(run)
            self._schedule(
                run, now + self.timings.provisioning_timeout_s, lambda at: self._timed_out(run, at)
            )
        else:
            task.last_status = "PENDING"
            self._schedule(run, now, lambda at: self._to_pending(run, at))

    def request_stop(self, backend: Any, task: Any, reason: str | None) -> None:
        """StopTask: desiredStatus STOPPED now, the containers get SIGTERM, the task stops shortly after."""
        reason = reason or USER_STOP_DEFAULT_REASON
        run = self._runs.get(task.task_arn)
        if run is None:
            if task.desired_status != "STOPPED":  # a task the agent does not run: stop it on the spot
                now = self.clock.now()
                task.desired_status = "STOPPED"
                task.last_status = "STOPPED"
                task.stop_code = USER_INITIATED
                task.stopped_reason = reason
                task.stopping_at = task.stopped_at = self.clock.wall(now)
                task.tags = []
            return
        if not run.stopping:
            task.tags = []  # "Any tags associated with the task will be deleted." (StopTask API reference)
            self._begin_stop(run, self.clock.now(), USER_INITIATED, reason, SIGTERM_EXIT_CODE)

    # Scheduling.

    def _schedule(self, run: TaskRun, at: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._events, (at, next(self._seq), run, run.epoch, action))

    def _schedule_free(self, at: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._events, (at, next(self._seq), None, 0, action))

    def _record_error(self, message: str) -> None:
        log.error("Simulated ECS agent failed: %s", message)
        self.errors.append(message)
        del self.errors[:-MAX_ERRORS]

    def _run_for(self, task_ref: str) -> TaskRun | None:
        run = self._runs.get(task_ref)
        if run is None:
            task_id = task_ref.rsplit("/", 1)[-1]
            run = next((r for r in self._runs.values() if r.task_id == task_id), None)
        return run

    # Lifecycle.

    def _bump(self, run: TaskRun, status: str | None = None) -> None:
        if status is not None:
            run.task.last_status = status
        run.task.version = (run.task.version or 0) + 1
        if self.on_version is not None:
            self.on_version(run.task)

    def _placed(self, run: TaskRun, at: float) -> None:
        attributes = run.instance.container_instance.attributes if run.instance else {}
        run.task.availability_zone = attributes.get("ecs.availability-zone")
        self._schedule(run, at + self.timings.placement_s, lambda t: self._to_pending(run, t))

    def _timed_out(self, run: TaskRun, at: float) -> None:
        if run.instance is None and run.status == "PROVISIONING":
            self._begin_stop(run, at, TASK_FAILED_TO_START, EMPTY_CAPACITY_PROVIDER_REASON, None)

    def _to_pending(self, run: TaskRun, at: float) -> None:
        run.task.pull_started_at = self.clock.wall(at)
        self._bump(run, "PENDING")
        self._schedule(run, at + self.timings.image_pull_s, lambda t: self._pulled(run, t))

    def _pulled(self, run: TaskRun, at: float) -> None:
        run.task.pull_stopped_at = self.clock.wall(at)
        throttled = next(
            (c for c in run.containers.values() if self.pull_limited and _docker_hub(c.image)), None
        )
        if throttled is not None:
            reason = PULL_THROTTLED_REASON.format(_docker_hub_ref(throttled.image or ""))
            throttled.reason = reason[:MAX_REASON_CHARS]
            self._begin_stop(run, at, TASK_FAILED_TO_START, reason[:MAX_REASON_CHARS], None)
            return
        self._bump(run, "ACTIVATING")
        self._schedule(run, at + self.timings.activating_s, lambda t: self._running(run, t))

    def _running(self, run: TaskRun, at: float) -> None:
        task = run.task
        task.started_at = task.connectivity_at = self.clock.wall(at)
        task.connectivity = "CONNECTED"
        if all(name in run.containers for name in contract.CONTAINERS):
            self._start_stage_in(run, at)
        else:
            for container in run.containers.values():
                container.last_status = "RUNNING"
            self._schedule(run, at + self.timings.generic_run_s, lambda t: self._generic_exit(run, t))
        self._bump(run, "RUNNING")

    def _generic_exit(self, run: TaskRun, at: float) -> None:
        for container in run.containers.values():
            container.last_status = "STOPPED"
            container.exit_code = 0
        self._begin_stop(run, at, ESSENTIAL_EXITED, ESSENTIAL_EXITED_REASON, None)

    # The three ODM containers.

    def _start_stage_in(self, run: TaskRun, at: float) -> None:
        run.containers[contract.STAGE_IN].last_status = "RUNNING"
        unpack_seed = staging.SEED_ZIP in "\n".join(run.command(contract.STAGE_IN))  # the script unpacks it
        run.listing = staging.list_input(run.env(contract.STAGE_IN, contract.ENV_INPUT_URI), unpack_seed)
        duration = self.timings.stage_in_base_s + self.timings.stage_in_per_image_s * run.listing.images
        self._schedule(run, at + duration, lambda t: self._stage_in_exited(run, t))

    def _stage_in_exited(self, run: TaskRun, at: float) -> None:
        stage_in = run.containers[contract.STAGE_IN]
        stage_in.last_status = "STOPPED"
        listing = run.listing or staging.InputListing(error="stage-in did not run")
        if listing.error:
            stage_in.exit_code = 1
            stage_in.reason = listing.error[:MAX_REASON_CHARS]
            self._log(run, contract.STAGE_IN, at, f"error: {listing.error}")
            for name in (contract.ODM, contract.STAGE_OUT):
                run.containers[name].last_status = "STOPPED"  # dependsOn SUCCESS never holds: never started
            self._bump(run)
            self._begin_stop(run, at, ESSENTIAL_EXITED, ESSENTIAL_EXITED_REASON, None)
            return
        stage_in.exit_code = 0
        self._log(
            run, contract.STAGE_IN, at, f"Downloaded {listing.images} images ({listing.image_bytes} bytes)"
        )
        self._start_odm(run, at)

    def _start_odm(self, run: TaskRun, at: float) -> None:
        listing = run.listing or staging.InputListing()
        instance_memory = run.instance.resources.registered_memory_mib if run.instance else None
        memory = run.odm_memory_mib(instance_memory)
        duration = self.timings.odm_base_s + self.timings.odm_per_image_s * listing.images
        # ODM counts the CPUs it sees: the instance's on EC2, the task's on Fargate (its own micro-VM).
        cpu_units = run.instance.resources.cpu_units if run.instance else run.needs.cpu
        queued = self.odm_failures.get(run.env(contract.ODM, contract.ENV_JOB) or "", [])
        plan = odm_run.plan_odm_run(
            run.command(contract.ODM),
            odm_run.Dataset(listing.images, listing.aux_files, listing.seed_files),
            memory,
            duration,
            host_cpus=max(1, cpu_units // 1024),
            ansi=run.env(contract.ODM, "no_ansiesc") is None,
            failure=queued.pop(0) if queued else None,
        )
        run.odm = plan
        run.odm_started_at = at
        run.containers[contract.ODM].last_status = "RUNNING"
        self._bump(run)
        if odm_remote.distributed(plan):  # --sm-cluster: the submodels go to the gateway (odm_remote.py)
            self._start_remote(run, plan, listing, at)
        elif odm_remote.asks_cluster(plan):  # config() asks the node for its info even when nothing is split
            ansi = run.env(contract.ODM, "no_ansiesc") is None
            threading.Thread(target=self._check_cluster, args=(run, plan, ansi), daemon=True).start()
        else:
            self._schedule_plan(run, plan, at)

    def _schedule_plan(self, run: TaskRun, plan: odm_run.OdmRun, at: float) -> None:
        by_time: dict[float, list[str]] = {}
        for line in plan.lines:
            by_time.setdefault(line.at, []).append(line.message)
        for offset, messages in by_time.items():
            self._schedule(run, at + offset, lambda t, m=messages: self._odm_lines(run, t, m))
        self._schedule(run, at + plan.duration_s, lambda t: self._odm_exited(run, t))

    def _check_cluster(self, run: TaskRun, plan: odm_run.OdmRun, ansi: bool) -> None:
        """opendm/config.py: an --sm-cluster that does not answer ends ODM (exit 1) before it runs anything."""
        problem = odm_remote.cluster_problem(plan)  # HTTP to the gateway: never under the lock
        with self.lock:
            if run.stopping or run.finished:
                return
            now = self.clock.now()
            if problem is None:
                run.odm_started_at = now
                self._schedule_plan(run, plan, now)
                return
            self._odm_lines(run, now, [odm_log.odm_line(problem, "ERROR", ansi)])
            run.odm = odm_remote.offline(plan)
            self._odm_exited(run, now)

    def _start_remote(
        self, run: TaskRun, plan: odm_run.OdmRun, listing: staging.InputListing, at: float
    ) -> None:
        """Distributed split-merge: a thread of its own talks to the gateway (never under the lock) and hands
        its lines and its end back here."""
        epoch = run.epoch

        def emit(messages: list[str]) -> None:
            with self.lock:
                if not run.finished:
                    self._odm_lines(run, self.clock.now(), messages)

        def finish(ended: odm_run.OdmRun) -> None:
            with self.lock:
                if run.epoch == epoch and not run.stopping:
                    run.odm = ended
                    self._odm_exited(run, self.clock.now())

        per_submodel = (plan.duration_s * (1 - odm_run.SPLIT_OWN_SHARE)) / max(1, plan.submodels)
        ansi = run.env(contract.ODM, "no_ansiesc") is None
        run.remote = odm_remote.RemoteSplitMerge(
            plan, listing.image_names, self.clock, at, emit, finish, ansi, per_submodel
        )
        run.remote.start()

    def _odm_lines(self, run: TaskRun, at: float, messages: list[str]) -> None:
        stamp = self.clock.wall(at).strftime(ODM_TIME_FORMAT)
        for message in messages:
            self._log(run, contract.ODM, at, message.replace(odm_run.TIME_PLACEHOLDER, stamp))

    def _odm_exited(self, run: TaskRun, at: float) -> None:
        odm = run.containers[contract.ODM]
        plan = run.odm
        odm.last_status = "STOPPED"
        odm.exit_code = plan.exit_code if plan else 1
        if plan is not None and plan.out_of_memory:
            odm.reason = OOM_CONTAINER_REASON
        run.containers[contract.STAGE_OUT].last_status = "RUNNING"  # dependsOn odm COMPLETE
        self._bump(run)
        files = 1 + (len(plan.files) if plan else 0)
        duration = self.timings.stage_out_base_s + self.timings.stage_out_per_file_s * files
        self._schedule(run, at + duration, lambda t: self._stage_out_exited(run, t))

    def _stage_out_exited(self, run: TaskRun, at: float) -> None:
        plan = run.odm
        files: dict[str, bytes] = {}
        if plan is not None:
            project = dict.fromkeys(plan.files, staging.PRODUCT_BODY)

            def iso_at(offset: float) -> str:
                return self.clock.wall(run.odm_started_at + offset).isoformat()

            if plan.args is not None:  # ODM got past its command line: it writes log.json
                project["log.json"] = odm_log.log_json(plan, iso_at)
            script = "\n".join(run.command(contract.STAGE_OUT))
            archive = run.env(contract.STAGE_OUT, odm_products.ARCHIVE_PATHS_VARIABLE)
            files = odm_products.stage_out_files(script, project, plan.succeeded, archive)
        upload = staging.upload_products(run.env(contract.STAGE_OUT, contract.ENV_OUTPUT_URI), files)
        stage_out = run.containers[contract.STAGE_OUT]
        stage_out.last_status = "STOPPED"
        if upload.error:
            stage_out.exit_code = 1
            stage_out.reason = upload.error[:MAX_REASON_CHARS]
            self._log(run, contract.STAGE_OUT, at, f"error: {upload.error}")
        else:
            stage_out.exit_code = 0
            self._log(run, contract.STAGE_OUT, at, f"Uploaded {len(upload.keys)} files")
        self._bump(run)
        self._begin_stop(run, at, ESSENTIAL_EXITED, ESSENTIAL_EXITED_REASON, None)

    # Stopping.

    def _begin_stop(
        self, run: TaskRun, at: float, stop_code: str | None, reason: str, signal_exit: int | None
    ) -> None:
        if run.stopping:
            return
        run.stopping = True
        run.epoch += 1  # cancels everything scheduled for the task so far
        if run.remote is not None:
            run.remote.stop.set()  # SIGTERM: ODM removes its remote tasks and exits (odm_remote.py)
        task = run.task
        task.desired_status = "STOPPED"
        task.stop_code = stop_code
        task.stopped_reason = reason
        task.stopping_at = self.clock.wall(at)
        if task.last_status == "PROVISIONING" and run.instance is None:
            self._capacity.forget(run)
            for container in run.containers.values():
                container.last_status = "STOPPED"
            self._finish(run, at)
            return
        running = [c for c in run.containers.values() if c.last_status == "RUNNING"]
        for container in run.containers.values():
            if container.last_status == "PENDING":
                container.last_status = "STOPPED"
        was_running = task.last_status == "RUNNING"
        self._bump(run, "DEACTIVATING" if was_running else "STOPPING")
        stopping_at = at + (self.timings.deactivating_s if was_running else 0.0)
        exited_at = stopping_at + (self.timings.sigterm_exit_s if running else 0.0)
        if was_running:
            self._schedule(run, stopping_at, lambda t: self._bump(run, "STOPPING"))
        self._schedule(run, exited_at, lambda t: self._containers_exited(run, t, running, signal_exit))
        self._schedule(run, exited_at + self.timings.deprovisioning_s, lambda t: self._finish(run, t))

    def _containers_exited(
        self, run: TaskRun, at: float, running: list[Any], signal_exit: int | None
    ) -> None:
        for container in running:
            container.last_status = "STOPPED"
            container.exit_code = signal_exit
        run.task.execution_stopped_at = self.clock.wall(at)
        self._bump(run, "DEPROVISIONING")

    def _finish(self, run: TaskRun, at: float) -> None:
        task = run.task
        task.stopped_at = self.clock.wall(at)
        if task.execution_stopped_at is None:
            task.execution_stopped_at = task.stopped_at
        self._bump(run, "STOPPED")
        run.finished = True
        self._runs.pop(run.arn, None)
        self._capacity.release(run, at)
        self._detach_network(run)
        retention = self.timings.stopped_retention_s
        if retention is not None:
            self._schedule_free(at + retention, lambda t: self._expire(run))

    def _expire(self, run: TaskRun) -> None:
        """ECS forgets stopped tasks after about an hour; DescribeTasks then reports them MISSING."""
        tasks = run.backend.tasks.get(run.cluster_name, {})
        if tasks.get(run.arn) is run.task:
            del tasks[run.arn]

    # Network and logs.

    def _attach_network(self, run: TaskRun) -> None:
        for attachment in run.task.attachments or []:
            details = {d.get("name"): d.get("value") for d in attachment.get("details", [])}
            interface = {
                "attachmentId": attachment.get("id"),
                "privateIpv4Address": details.get("privateIPv4Address"),
            }
            for container in run.containers.values():
                container.network_interfaces = [interface]
            subnet_id = details.get("subnetId")
            if subnet_id and run.kind == "fargate":
                try:
                    subnet = ec2_backends[DEFAULT_ACCOUNT_ID][run.region].get_subnet(subnet_id)
                    run.task.availability_zone = subnet.availability_zone
                except Exception:
                    pass

    def _detach_network(self, run: TaskRun) -> None:
        for attachment in run.task.attachments or []:
            details = {d.get("name"): d.get("value") for d in attachment.get("details", [])}
            eni_id = details.get("networkInterfaceId")
            if eni_id:
                with contextlib.suppress(Exception):
                    ec2_backends[DEFAULT_ACCOUNT_ID][run.region].delete_network_interface(eni_id)
            attachment["status"] = "DELETED"

    def _log(self, run: TaskRun, container: str, at: float, message: str) -> None:
        target = run.log_target(container)
        if target is not None:
            self._logs.write(target, self.clock.wall_ms(at), message)


def _docker_hub(image: str | None) -> bool:
    """Whether ``image`` comes from Docker Hub: no registry host in front, or docker.io."""
    if not image:
        return False
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first in ("docker.io", "registry-1.docker.io", "index.docker.io")
    return True


def _docker_hub_ref(image: str) -> str:
    path = image.split("/", 1)[1] if image.startswith("docker.io/") else image
    path = path if "/" in path else f"library/{path}"
    return f"docker.io/{path}"
