"""Chaos runs: ODMJobs of known scenarios go through the operator while things break, then a strict audit.

A run applies jobs of mixed scenarios, each implying its final phase (succeeds; empty input fails with
InputUnavailable; a spot interruption is retried and then succeeds; deleted mid-run is gone; suspended ends
Suspended), performs their actions (interrupt, delete, suspend), and meanwhile breaks what it is told to break:
SIGKILLs the operator at random moments and restarts it, answers AWS calls with throttling and HTTP 500s, rejects
the operator's Kubernetes writes with 409s and 500s and drops its watch streams. Then it audits:

- every job has the phase (and reason) its scenario implies, and deleted jobs are gone;
- no (job uid, attempt) got two ECS tasks (counted at RunTask time by ledger.py);
- no task is left running for a job that is deleted, finished or suspended;
- no lost status: every task a job started is in its status.attempts under the right number, and back.

Everything random (the scenario mix and order, the delays between kills, the downtimes, when a job is deleted
or suspended, which calls fail) comes from seeded generators, so a failing run replays with its seed; the timing
of the machine still varies, which is what a chaos test is for. The waits are polls with deadlines.

``python -m tests.chaos.harness --jobs 200 --kills 20`` runs on a stack of its own (moto's state is per process,
so crash tests run in a child process, away from the test session's shared stack); ``ChaosRun(stack, ...)``
runs on a stack the caller owns (the e2e fault tests use the session's).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import heapq
import itertools
import json
import logging
import random
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.client.rest import ApiException

from odm_operator import API_GROUP, API_VERSION, PLURAL
from odm_sandbox.aws.faults import FaultRule
from odm_sandbox.stack import SANDBOX_PROVIDER, Stack

from .ledger import TaskLedger

log = logging.getLogger("chaos")

# Simulated seconds per real second, as in the e2e tests: the 30-image dataset runs in ~1.3 s.
TIME_SCALE = 600.0
INPUT = "s3://odm-sandbox-input"
OUTPUT = "s3://odm-sandbox-output"
# Spot jobs run long enough (~4 s) to be interrupted while running; deleted and suspended ones run ~20 s (the
# seeded 600-image dataset), so none of them can finish on its own before the delete or suspend lands.
SPOT_IMAGES = 120
SMALL = {"cpu": 4, "memory": "16Gi"}
SPOT = {"cpu": 8, "memory": "32Gi"}
LONG = {"cpu": 16, "memory": "64Gi"}
FARGATE = {"type": "fargate"}
# When a delete or a suspend lands, in seconds after the job was created (drawn per job).
ACTION_DELAY = (0.0, 2.5)
# How often the action loop looks at the jobs; also the period of the convergence poll.
POLL_S = 0.05
# ECS keeps a stopped task visible for about an hour; see run_on_own_stack for why chaos runs keep it longer.
STOPPED_RETENTION_S = 12 * 3600.0
# A restarted operator imports kopf, boto3 and kubernetes and runs its startup handler in about two seconds.
READY_TIMEOUT_S = 60.0
# A task stopped for a suspend is stopped right after the Suspended status is written: allow that moment.
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class Scenario:
    name: str
    weight: int  # share of the jobs, in percent
    phase: str | None  # the final phase it implies; None: the job is deleted and must be gone
    reason: str | None
    spec: Callable[[str, str], dict[str, Any]]  # (namespace, job name) -> spec
    action: str | None = None  # "interrupt" | "delete" | "suspend"
    attempts: tuple[int, int] | None = None  # allowed range of status.attempts, inclusive
    tasks: tuple[int, int] | None = None  # allowed range of tasks RunTask created for the job


def _spec(dataset: str, resources: dict[str, Any] | None, capacity: dict[str, Any], **more: Any):
    def build(namespace: str, name: str) -> dict[str, Any]:
        source = dataset.format(namespace=namespace)
        spec: dict[str, Any] = {
            "input": {"s3Uri": f"{INPUT}/{source}/"},
            "output": {"s3Uri": f"{OUTPUT}/{namespace}/{name}/"},
            "capacity": dict(capacity),
            **more,
        }
        if resources is not None:
            spec["resources"] = dict(resources)
        return spec

    return build


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "succeed",
            20,
            "Succeeded",
            "Succeeded",
            _spec("small", SMALL, FARGATE),
            attempts=(1, 1),
            tasks=(1, 1),
        ),
        Scenario(
            "succeed-sized",
            10,
            "Succeeded",
            "Succeeded",
            _spec("small", None, FARGATE),
            attempts=(1, 1),
            tasks=(1, 1),
        ),
        Scenario(
            "succeed-ec2",
            8,
            "Succeeded",
            "Succeeded",
            _spec("small", {"cpu": 2, "memory": "8Gi"}, {"type": "ec2", "provider": SANDBOX_PROVIDER}),
            attempts=(1, 1),
            tasks=(1, 1),
        ),
        Scenario(
            "succeed-managed",
            5,
            "Succeeded",
            "Succeeded",
            _spec("small", {"cpu": 2, "memory": "8Gi"}, {"type": "ec2"}),
            attempts=(1, 1),
            tasks=(1, 1),
        ),
        Scenario(
            "empty",
            8,
            "Failed",
            "InputUnavailable",
            _spec("empty", SMALL, FARGATE),
            attempts=(1, 1),
            tasks=(1, 1),
        ),
        Scenario(
            "empty-sized",
            7,
            "Failed",
            "InputUnavailable",
            _spec("empty", None, FARGATE),
            attempts=(1, 1),
            tasks=(0, 0),
        ),
        Scenario(
            "spot",
            14,
            "Succeeded",
            "Succeeded",
            _spec("{namespace}-spot", SPOT, {"type": "fargate", "spot": True}),
            action="interrupt",
            attempts=(2, 2),
            tasks=(2, 2),
        ),
        Scenario("delete", 14, None, None, _spec("medium", LONG, FARGATE), action="delete", tasks=(0, 1)),
        Scenario(
            "suspend",
            6,
            "Suspended",
            "Suspended",
            _spec("small", SMALL, FARGATE, suspend=True),
            attempts=(0, 0),
            tasks=(0, 0),
        ),
        Scenario(
            "suspend-mid",
            8,
            "Suspended",
            "Suspended",
            _spec("medium", LONG, FARGATE),
            action="suspend",
            attempts=(0, 1),
            tasks=(0, 1),
        ),
    )
}


@dataclass
class Config:
    jobs: int = 40
    kills: int = 0
    seed: int = 1
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    # AWS faults on every call ("*"), as shares of all calls.
    throttle: float = 0.0  # ThrottlingException (HTTP 400)
    server_errors: float = 0.0  # InternalFailure (HTTP 500)
    # Kubernetes faults on the operator's writes in the run's namespace, as shares of those writes.
    kube_conflicts: float = 0.0  # 409
    kube_errors: float = 0.0  # 500
    drop_watches: tuple[float, float] | None = None  # seconds between dropping every watch stream
    kill_gap: tuple[float, float] = (0.3, 2.5)  # seconds from a wave of jobs to the kill
    downtime: tuple[float, float] = (0.0, 1.0)  # seconds the operator stays dead
    timeout: float = 120.0  # for the jobs to converge after the last disruption


@dataclass
class Job:
    name: str
    scenario: Scenario
    wave: int
    delay: float  # for delete / suspend: seconds after creation
    uid: str = ""
    created: float = 0.0
    acted: bool = False
    action_result: str = ""
    gone_at: float | None = None


@dataclass
class Report:
    seed: int
    namespace: str
    jobs: int
    scenarios: dict[str, int]
    kills: int = 0
    run_tasks: int = 0  # tasks RunTask created for the run's jobs
    aws_calls: int = 0
    aws_faults: int = 0
    kube_faults: int = 0
    watch_drops: int = 0
    seconds: float = 0.0
    converged_in: float = 0.0  # after the last disruption
    wrong: list[str] = field(default_factory=list)  # a job not in the state its scenario implies
    duplicates: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # a task the job started that its status does not show
    errors: list[str] = field(
        default_factory=list
    )  # the run itself went wrong (operator died, action missed)
    operator_log: str = ""

    @property
    def problems(self) -> list[str]:
        return self.wrong + self.duplicates + self.leaks + self.lost + self.errors

    def summary(self) -> str:
        return (
            f"seed={self.seed} jobs={self.jobs} kills={self.kills} run_tasks={self.run_tasks} "
            f"aws_calls={self.aws_calls} aws_faults={self.aws_faults} kube_faults={self.kube_faults} "
            f"watch_drops={self.watch_drops} duplicates={len(self.duplicates)} leaks={len(self.leaks)} "
            f"lost={len(self.lost)} wrong={len(self.wrong)} errors={len(self.errors)} "
            f"seconds={self.seconds:.1f} converged_in={self.converged_in:.1f}"
        )


def mix(config: Config, rng: random.Random) -> list[Scenario]:
    """config.jobs scenarios in proportion to their weights (each at least once when there is room), shuffled."""
    chosen = [SCENARIOS[name] for name in config.scenarios]
    total = sum(s.weight for s in chosen)
    counts = {
        s.name: max(1 if config.jobs >= len(chosen) else 0, config.jobs * s.weight // total) for s in chosen
    }
    by_weight = sorted(chosen, key=lambda s: (-s.weight, s.name))
    for s in itertools.cycle(by_weight):
        if sum(counts.values()) >= config.jobs:
            break
        counts[s.name] += 1
    while sum(counts.values()) > config.jobs:
        biggest = max(counts, key=lambda n: counts[n])
        counts[biggest] -= 1
    out = [SCENARIOS[name] for name, n in counts.items() for _ in range(n)]
    rng.shuffle(out)
    return out


class ChaosRun:
    def __init__(self, stack: Stack, namespace: str, config: Config):
        self.stack = stack
        self.ns = namespace
        self.config = config
        self.rng = random.Random(config.seed)
        self.jobs: list[Job] = []
        self.report = Report(config.seed, namespace, config.jobs, {})
        self._stop = threading.Event()
        self._done_disrupting = threading.Event()
        self._lock = threading.Lock()
        self._kube_rules: list[Any] = []

    # ----- the run -------------------------------------------------------------------------------------------

    def run(self) -> Report:
        started = time.monotonic()
        self._prepare()
        scenarios = mix(self.config, self.rng)
        waves = self.config.kills + 1
        for i, scenario in enumerate(scenarios):
            delay = self.rng.uniform(*ACTION_DELAY) if scenario.action in ("delete", "suspend") else 0.0
            self.jobs.append(Job(f"j{i:03d}-{scenario.name}", scenario, i % waves, delay))
        self.report.scenarios = {name: sum(j.scenario.name == name for j in self.jobs) for name in SCENARIOS}
        # Draw every delay up front, so the schedule does not depend on how fast the machine is.
        gaps = [self.rng.uniform(*self.config.kill_gap) for _ in range(self.config.kills)]
        downs = [self.rng.uniform(*self.config.downtime) for _ in range(self.config.kills)]
        before = self.stack.aws.counters.snapshot()
        kube_before = self.stack.kube.faults.injected
        with TaskLedger(self.stack.aws) as ledger:
            self.ledger = ledger
            self._break_things()
            actions = threading.Thread(target=self._actions, name="chaos-actions", daemon=True)
            actions.start()
            dropper = None
            if self.config.drop_watches:
                dropper = threading.Thread(target=self._drop_watches, name="chaos-watches", daemon=True)
                dropper.start()
            try:
                for wave in range(waves):
                    self._create(wave)
                    if wave < self.config.kills:
                        time.sleep(gaps[wave])  # the test's input: a random moment to kill at
                        self._kill_and_restart(downs[wave])
                last_disruption = time.monotonic()
                self._converge(last_disruption)
                self.report.converged_in = time.monotonic() - last_disruption
            finally:
                self._done_disrupting.set()
                self._mend()
                self._stop.set()
                actions.join(timeout=10)
                if dropper is not None:
                    dropper.join(timeout=10)
            self._audit()
        after = self.stack.aws.counters.snapshot()
        self.report.aws_calls = after["total"] - before["total"]
        self.report.aws_faults = sum(after["faults"].values()) - sum(before["faults"].values())
        self.report.kube_faults = self.stack.kube.faults.injected - kube_before
        self.report.seconds = time.monotonic() - started
        return self.report

    def _prepare(self) -> None:
        if self.config.kills:
            self._wait_ready()
        self.custom = kubernetes.client.CustomObjectsApi(self._api())
        with contextlib.suppress(ApiException):  # exists already
            kubernetes.client.CoreV1Api(self._api()).create_namespace({"metadata": {"name": self.ns}})
        if any(SCENARIOS[n].action == "interrupt" for n in self.config.scenarios):
            s3 = self.stack.client("s3")
            for i in range(SPOT_IMAGES):
                s3.put_object(
                    Bucket="odm-sandbox-input", Key=f"{self.ns}-spot/IMG_{i:04d}.JPG", Body=b"\xff\xd8"
                )

    def _api(self) -> kubernetes.client.ApiClient:
        return kubernetes.config.new_client_from_config(config_file=str(self.stack.kubeconfig))

    def _break_things(self) -> None:
        c = self.config
        rules = []
        if c.throttle:
            rules.append(
                FaultRule(
                    "*",
                    code="ThrottlingException",
                    status=400,
                    message="Rate exceeded",
                    probability=c.throttle,
                )
            )
        if c.server_errors:
            # Rules are tried in order: the second sees only the calls the first let through.
            rules.append(
                FaultRule(
                    "*",
                    code="InternalFailure",
                    status=500,
                    message="We encountered an internal error. Please try again.",
                    probability=min(1.0, c.server_errors / (1.0 - c.throttle)),
                )
            )
        if rules:
            self.stack.aws.faults.set_rules(rules, seed=c.seed)
        faults = self.stack.kube.faults
        faults.seed(c.seed)
        # 409s and 500s hit every write of the operator: its status patches, the patches that add and remove its
        # finalizer, the Events it posts. A failed pass is run again by the dispatcher with backoff, whether or
        # not an event follows.
        for status, share, subresource in ((409, c.kube_conflicts, None), (500, c.kube_errors, None)):
            if not share:
                continue
            self._kube_rules.append(
                faults.reject(
                    verb="patch",
                    resource=PLURAL,
                    subresource=subresource,
                    namespace=self.ns,
                    status=status,
                    probability=share,
                    times=None,
                )
            )
            self._kube_rules.append(
                faults.reject(
                    verb="create",
                    resource="events",
                    namespace=self.ns,
                    status=status,
                    probability=share,
                    times=None,
                )
            )

    def _mend(self) -> None:
        if self.config.throttle or self.config.server_errors:
            self.stack.aws.faults.clear()
        for rule in self._kube_rules:
            self.stack.kube.faults.remove(rule)

    def _create(self, wave: int) -> None:
        for job in self.jobs:
            if job.wave != wave:
                continue
            body = {
                "apiVersion": f"{API_GROUP}/{API_VERSION}",
                "kind": "ODMJob",
                "metadata": {"name": job.name, "namespace": self.ns},
                "spec": job.scenario.spec(self.ns, job.name),
            }
            created = self.custom.create_namespaced_custom_object(
                API_GROUP, API_VERSION, self.ns, PLURAL, body
            )
            job.uid = created["metadata"]["uid"]
            job.created = time.monotonic()

    def _kill_and_restart(self, downtime: float) -> None:
        died = self.stack.operator_died()
        if died is not None:
            self.report.errors.append(
                f"the operator exited on its own before kill {self.report.kills + 1}:\n{died}"
            )
        self.stack.kill_operator(signal.SIGKILL)
        self.report.kills += 1
        log.info("Killed the operator kill=%d downtime=%.2f", self.report.kills, downtime)
        time.sleep(downtime)  # the test's input: how long the operator stays dead
        self.stack.start_operator()
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Until the restarted operator serves its metrics (its startup handler ran), so that the next kill
        lands in its working life rather than in its imports; a run of kills during start-up would add up to
        an outage of simulated hours, longer than ECS keeps a stopped task."""
        url = f"http://127.0.0.1:{self.stack.metrics_port}/metrics"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.stack.operator_died() is not None:
                return
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except OSError:
                time.sleep(POLL_S)
        self.report.errors.append(f"the operator did not start within {READY_TIMEOUT_S:.0f}s")

    def _drop_watches(self) -> None:
        rng = random.Random(self.config.seed + 1)
        assert self.config.drop_watches is not None
        while not self._done_disrupting.wait(rng.uniform(*self.config.drop_watches)):
            self.stack.kube.drop_watches()
            self.report.watch_drops += 1

    # ----- scenario actions ----------------------------------------------------------------------------------

    def _actions(self) -> None:
        custom = kubernetes.client.CustomObjectsApi(self._api())
        queue: list[tuple[float, int, Job]] = []
        queued: set[str] = set()
        seq = itertools.count()
        while not self._stop.is_set():
            now = time.monotonic()
            for job in self.jobs:
                if job.created and job.scenario.action and job.name not in queued:
                    heapq.heappush(queue, (job.created + job.delay, next(seq), job))
                    queued.add(job.name)
            retry = []
            while queue and queue[0][0] <= now:
                _, _, job = heapq.heappop(queue)
                if not self._act(custom, job):
                    retry.append(job)
            for job in retry:
                heapq.heappush(queue, (now + POLL_S, next(seq), job))
            self._watch_deleted()
            self._stop.wait(POLL_S)

    def _act(self, custom: Any, job: Job) -> bool:
        """Perform a job's action; False to try again at the next poll."""
        action = job.scenario.action
        try:
            if action == "interrupt":
                arn = self.stack.aws.interrupt_job(self.ns, job.name)
                if arn is None:
                    return False  # no task running yet (or it is provisioning)
                job.action_result = arn
            elif action == "delete":
                with contextlib.suppress(ApiException):
                    custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, self.ns, PLURAL, job.name)
            elif action == "suspend":
                patch = {"spec": {"suspend": True}}
                custom.patch_namespaced_custom_object(
                    API_GROUP, API_VERSION, self.ns, PLURAL, job.name, patch
                )
        except ApiException as exc:  # an injected fault on our own patch: try again
            log.info("Action failed job=%s action=%s status=%s", job.name, action, exc.status)
            return False
        job.acted = True
        return True

    def _watch_deleted(self) -> None:
        """The moment a deleted job disappears: none of its tasks may still be meant to run."""
        pending = [j for j in self.jobs if j.scenario.action == "delete" and j.acted and j.gone_at is None]
        if not pending:
            return
        present = {o["metadata"]["name"] for o in self.stack.kube.objects(PLURAL, self.ns)}
        for job in pending:
            if job.name in present:
                continue
            job.gone_at = time.monotonic()
            for task in self.ledger.running({job.uid}):
                self.report.leaks.append(f"{job.name}: task {task.arn} still running when the job was gone")

    # ----- convergence and audit -----------------------------------------------------------------------------

    def _objects(self) -> dict[str, dict[str, Any]]:
        return {o["metadata"]["name"]: o for o in self.stack.kube.objects(PLURAL, self.ns)}

    def _settled(self, job: Job, obj: dict[str, Any] | None) -> bool:
        if job.scenario.action and not job.acted:
            return False
        if job.scenario.phase is None:
            return obj is None and job.gone_at is not None
        status = (obj or {}).get("status") or {}
        return status.get("phase") == job.scenario.phase

    def _converge(self, since: float) -> None:
        deadline = since + self.config.timeout
        while time.monotonic() < deadline:
            died = self.stack.operator_died()
            if died is not None:
                self.report.errors.append(f"the operator exited on its own:\n{died}")
                return
            objects = self._objects()
            if all(self._settled(job, objects.get(job.name)) for job in self.jobs):
                return
            time.sleep(POLL_S * 4)
        objects = self._objects()
        for job in self.jobs:
            if not self._settled(job, objects.get(job.name)):
                obj = objects.get(job.name)
                status = (obj or {}).get("status") or {}
                self.report.wrong.append(
                    f"{job.name}: not settled within {self.config.timeout:.0f}s: phase={status.get('phase')} "
                    f"reason={status.get('reason')} message={status.get('message')!r} exists={obj is not None} "
                    f"acted={job.acted}"
                )

    def _audit(self) -> None:
        uids = {job.uid for job in self.jobs if job.uid}
        objects = self._objects()
        ledger = self.ledger
        self.report.run_tasks = sum(len(ledger.of(uid)) for uid in uids)
        for (uid, attempt), arns in sorted(ledger.duplicates(uids).items(), key=str):
            name = next(j.name for j in self.jobs if j.uid == uid)
            self.report.duplicates.append(f"{name}: attempt {attempt} has {len(arns)} tasks: {arns}")
        # Nothing of the run may keep running: every job ends finished, suspended or deleted.
        deadline = time.monotonic() + STOP_GRACE_S
        while ledger.running(uids) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        for task in ledger.running(uids):
            name = next((j.name for j in self.jobs if task.started_by.endswith(j.uid)), "?")
            self.report.leaks.append(
                f"{name}: task {task.arn} still running ({task.last}) after the run settled"
            )
        for job in self.jobs:
            tasks = ledger.of(job.uid)
            if job.gone_at is not None:
                late = [t.arn for t in tasks if t.at > job.gone_at]
                if late:
                    self.report.leaks.append(f"{job.name}: tasks started after the job was gone: {late}")
            if job.scenario.tasks and not job.scenario.tasks[0] <= len(tasks) <= job.scenario.tasks[1]:
                self.report.wrong.append(f"{job.name}: {len(tasks)} tasks, expected {job.scenario.tasks}")
            if job.scenario.action and not job.acted:
                self.report.errors.append(f"{job.name}: the {job.scenario.action} never happened")
            obj = objects.get(job.name)
            if job.scenario.phase is None:
                if obj is not None:
                    self.report.wrong.append(f"{job.name}: deleted, but still there: {obj.get('status')}")
                continue
            if obj is None:
                self.report.lost.append(f"{job.name}: the job is gone")
                continue
            self._check_status(job, obj.get("status") or {}, tasks)

    def _check_status(self, job: Job, status: dict[str, Any], tasks: list[Any]) -> None:
        s = job.scenario
        where = f"{job.name} ({status.get('phase')}/{status.get('reason')}: {status.get('message')!r})"
        if (status.get("phase"), status.get("reason")) != (s.phase, s.reason):
            self.report.wrong.append(f"{where}: expected {s.phase}/{s.reason}")
        attempts = status.get("attempts") or []
        if [a.get("number") for a in attempts] != list(range(1, len(attempts) + 1)):
            self.report.lost.append(f"{where}: attempt numbers {[a.get('number') for a in attempts]}")
        if s.attempts and not s.attempts[0] <= len(attempts) <= s.attempts[1]:
            ended = [(a.get("reason"), a.get("stoppedReason")) for a in attempts]
            self.report.wrong.append(f"{where}: {len(attempts)} attempts, expected {s.attempts}: {ended}")
        recorded = {(a.get("number"), a.get("taskArn")) for a in attempts if a.get("taskArn")}
        started = {(t.attempt, t.arn) for t in tasks}
        for attempt, arn in sorted(started - recorded, key=str):
            self.report.lost.append(f"{where}: task {arn} of attempt {attempt} is not in status.attempts")
        for attempt, arn in sorted(recorded - started, key=str):
            self.report.lost.append(
                f"{where}: status.attempts[{attempt}] names {arn}, which RunTask never made"
            )
        if s.phase in ("Succeeded", "Failed", "Suspended"):
            unfinished = [a.get("number") for a in attempts if not a.get("finishedAt")]
            if unfinished:
                self.report.lost.append(f"{where}: attempts {unfinished} never finished")
        if s.phase == "Succeeded":
            if not (status.get("outputs") or {}).get("orthophoto"):
                self.report.lost.append(f"{where}: no outputs")
            if not status.get("completionTime"):
                self.report.lost.append(f"{where}: no completionTime")
        if s.action == "interrupt" and attempts and attempts[0].get("reason") != "SpotInterruption":
            self.report.wrong.append(f"{where}: the first attempt ended {attempts[0].get('reason')}")
        if s.name == "suspend-mid" and attempts and attempts[-1].get("reason") != "Suspended":
            self.report.wrong.append(f"{where}: the attempt ended {attempts[-1].get('reason')}")


# ----- a run in a process of its own ----------------------------------------------------------------------------


def run_on_own_stack(config: Config, state_dir: Path) -> Report:
    with Stack(state_dir, time_scale=TIME_SCALE) as stack:
        # An operator restart takes 2-5 real seconds here (imports, then resuming every job on a busy 2-core
        # machine), which the 600x clock turns into up to an hour: as long as ECS keeps a stopped task. A real
        # restart takes seconds of real time, so keep stopped tasks for STOPPED_RETENTION_S of simulated time
        # to keep restarts short next to the retention, as on AWS. (What a restart longer than the retention
        # does is tested on its own: tests/e2e/test_faults_aws.py.)
        stack.aws.set_timings(
            dataclasses.replace(stack.aws.agent.timings, stopped_retention_s=STOPPED_RETENTION_S)
        )
        report = ChaosRun(stack, "chaos", config).run()
        if report.problems:
            lines = (state_dir / "operator.log").read_text(errors="replace").splitlines()
            report.operator_log = "\n".join(lines[-60:])
        return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.harness", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--throttle", type=float, default=0.0, help="share of AWS calls throttled")
    parser.add_argument("--server-errors", type=float, default=0.0, help="share of AWS calls answered 500")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="keep the stack's files (operator.log) here"
    )
    parser.add_argument("--report", type=Path, default=None, help="write the report here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("werkzeug", "kubernetes", "urllib3", "botocore", "aiohttp", "kmock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = Config(
        jobs=args.jobs,
        kills=args.kills,
        seed=args.seed,
        throttle=args.throttle,
        server_errors=args.server_errors,
        timeout=args.timeout,
    )
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="odm-chaos-"))
    report = run_on_own_stack(config, state_dir)
    data = {**asdict(report), "problems": len(report.problems), "state_dir": str(state_dir)}
    if args.report:
        args.report.write_text(json.dumps(data, indent=1))
    print(report.summary())
    for problem in report.problems:
        print("PROBLEM", problem)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
