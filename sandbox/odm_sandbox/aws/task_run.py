"""One ECS task as the simulated agent runs it: the moto Task plus what the agent needs to know about it.

moto's Task materialises only the first container and has no timestamps, exit codes or stop codes. ``TaskRun``
replaces its containers with ``SimContainer`` objects (all three, with lastStatus, exitCode and reason) and
reads the per-job values the operator passes in RunTask overrides (contract.py): the input URI on stage-in,
the ODM arguments on odm, the output URI on stage-out, and the task's cpu, memory and GPUs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from odm_operator import contract

from .odm_run import OdmRun
from .staging import InputListing

FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


@dataclass(frozen=True)
class Needs:
    """What a task needs from a container instance: CPU units, MiB of memory, GPUs."""

    cpu: int
    memory: int
    gpus: int


class SimContainer:
    """A container as DescribeTasks shows it; moto's serializer reads these attributes by their API names."""

    def __init__(self, task_arn: str, cluster: str, task_id: str, definition: dict[str, Any]) -> None:
        arn_prefix = task_arn.split(":task/")[0]
        self.container_arn = f"{arn_prefix}:container/{cluster}/{task_id}/{uuid.uuid4()}"
        self.task_arn = task_arn
        self.name: str = definition.get("name", "")
        self.image: str | None = definition.get("image")
        self.last_status = "PENDING"
        self.exit_code: int | None = None
        self.reason: str | None = None
        self.health_status = "UNKNOWN"
        self.cpu = str(definition.get("cpu", 0))
        self.memory = str(definition["memory"]) if definition.get("memory") else None
        self.memory_reservation = (
            str(definition["memoryReservation"]) if definition.get("memoryReservation") else None
        )
        self.network_interfaces: list[dict[str, str]] = []
        self.gpu_ids: list[str] | None = None
        self.started = False

    @property
    def running(self) -> bool:
        return self.last_status == "RUNNING"


class TaskRun:
    def __init__(
        self, backend: Any, task: Any, task_definition: Any, kind: str, provider: str | None
    ) -> None:
        self.backend = backend
        self.task = task
        self.task_definition = task_definition
        self.kind = kind  # "fargate" | "ec2" | "standalone" (launchType EC2 on an instance moto placed it on)
        self.provider = provider
        self.epoch = 0  # bumped to cancel every event scheduled before a stop
        self.stopping = False
        self.finished = False
        self.instance: Any = None  # capacity.SimInstance once placed
        self.reserved: Any = None  # capacity.SimInstance launching for this task
        self.listing: InputListing | None = None
        self.odm: OdmRun | None = None
        self.remote: Any = None  # odm_remote.RemoteSplitMerge of a distributed split-merge run
        self.odm_started_at = 0.0
        self.created_at = 0.0
        self.definitions = {c.get("name"): c for c in task_definition.container_definitions}
        self.overrides = {o.get("name"): o for o in (task.overrides or {}).get("containerOverrides") or []}
        self.containers = {
            name: SimContainer(task.task_arn, task.cluster_name, task.id, definition)
            for name, definition in self.definitions.items()
        }
        self.needs = self._needs()
        self.exclusive = False  # RunTask placementConstraints memberOf "runningTasksCount == 0"

    @property
    def arn(self) -> str:
        return self.task.task_arn

    @property
    def task_id(self) -> str:
        return self.task.id

    @property
    def cluster_name(self) -> str:
        return self.task.cluster_name

    @property
    def region(self) -> str:
        return self.task.region_name

    @property
    def status(self) -> str:
        return self.task.last_status

    def container(self, name: str) -> SimContainer | None:
        return self.containers.get(name)

    def env(self, container: str, name: str) -> str | None:
        """An environment variable of ``container``: the override wins over the task definition."""
        for source in (self.overrides.get(container, {}), self.definitions.get(container, {})):
            for pair in source.get("environment") or []:
                if pair.get("name") == name:
                    return pair.get("value")
        return None

    def command(self, container: str) -> list[str]:
        override = self.overrides.get(container, {}).get("command")
        if override is not None:
            return list(override)
        return list(self.definitions.get(container, {}).get("command") or [])

    def task_level(self, name: str) -> str | None:
        """Task-level ``cpu`` or ``memory``: the RunTask override, else the task definition."""
        value = (self.task.overrides or {}).get(name) or getattr(self.task_definition, name, None)
        return str(value) if value else None

    def container_value(self, container: str, name: str) -> int | None:
        value = self.overrides.get(container, {}).get(name)
        if value is None:
            value = self.definitions.get(container, {}).get(name)
        return int(value) if value else None

    def odm_memory_mib(self, instance_memory_mib: int | None = None) -> int | None:
        """Memory the odm container may use: its hard limit, else the task's, else the instance's."""
        limits = [
            value
            for value in (self.container_value(contract.ODM, "memory"), _int(self.task_level("memory")))
            if value
        ]
        if limits:
            return min(limits)
        return instance_memory_mib or self.container_value(contract.ODM, "memoryReservation")

    def log_target(self, container: str) -> tuple[str, str, str] | None:
        """(region, group, stream) of ``container``'s awslogs configuration; None without awslogs."""
        config = self.definitions.get(container, {}).get("logConfiguration") or {}
        if config.get("logDriver") != "awslogs":
            return None
        options = config.get("options") or {}
        group = options.get("awslogs-group")
        if not group:
            return None
        region = options.get("awslogs-region") or self.region
        prefix = options.get("awslogs-stream-prefix")
        stream = f"{prefix}/{container}/{self.task_id}" if prefix else f"{container}/{self.task_id}"
        return region, group, stream

    def _needs(self) -> Needs:
        cpu = _int(self.task_level("cpu"))
        memory = _int(self.task_level("memory"))
        if cpu is None:
            cpu = sum(self.container_value(name, "cpu") or 0 for name in self.definitions)
        if memory is None:
            memory = sum(
                self.container_value(name, "memory") or self.container_value(name, "memoryReservation") or 0
                for name in self.definitions
            )
        gpus = 0
        for name, definition in self.definitions.items():
            requirements = self.overrides.get(name, {}).get("resourceRequirements")
            if requirements is None:
                requirements = definition.get("resourceRequirements") or []
            gpus += sum(int(r.get("value", 0)) for r in requirements if r.get("type") == "GPU")
        return Needs(cpu, memory, gpus)


def _int(value: str | None) -> int | None:
    """An integer task size; "4 vCPU" and "16 GB" (RegisterTaskDefinition accepts them) become 4096, 16384."""
    if value is None:
        return None
    text = value.strip().lower()
    for suffix in ("vcpu", "gb"):
        if text.endswith(suffix):
            try:
                return int(float(text[: -len(suffix)]) * 1024)
            except ValueError:
                return None
    try:
        return int(text)
    except ValueError:
        return None
