"""ECS managed scaling for Auto Scaling group capacity providers, as the simulated agent performs it.

On AWS a task whose capacity provider has no room waits in PROVISIONING while ECS raises the group's desired
capacity; the new instance boots, its ECS agent registers it with the cluster, and the task is placed on it.
Idle instances are scaled in after a while (managed termination protection lets ECS choose which). This module
does the same on moto's in-process Auto Scaling, EC2 and ECS backends: it honours the group's MaxSize (MaxSize
0 leaves tasks waiting until they time out), picks an instance type from the group's launch template or
MixedInstancesPolicy overrides that fits the task, and registers container instances with that type's real
resources (instance_types.py), GPUs included.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ssm.models import ssm_backends

from .instance_types import InstanceResources, resources_of
from .task_run import Needs, TaskRun

# Scheduling callback: run ``action(at)`` at simulated second ``at``.
Schedule = Callable[[float, Callable[[float], None]], None]
ProviderKey = tuple[str, str]  # (region, capacity provider name)

ASG_ARN_NAME_MARKER = "autoScalingGroupName/"
# A launch template ImageId may name an SSM parameter; EC2 resolves it at launch, moto keeps the literal.
RESOLVE_SSM_PREFIX = "resolve:ssm:"


class SimInstance:
    """An EC2 instance of a capacity provider's group, from launch to termination."""

    def __init__(
        self, ec2_id: str, resources: InstanceResources, key: ProviderKey, cluster: str, backend: Any
    ):
        self.ec2_id = ec2_id
        self.resources = resources
        self.key = key
        self.cluster_name = cluster
        self.backend = backend
        self.state = "LAUNCHING"  # LAUNCHING -> ACTIVE -> GONE
        self.free_cpu = resources.cpu_units
        self.free_memory = resources.registered_memory_mib
        self.free_gpus = [f"GPU-{uuid.uuid4()}" for _ in range(resources.gpus)]
        self.runs: set[str] = set()
        self.reserved: list[TaskRun] = []
        self.container_instance: Any = None
        self.idle_since: float | None = None
        self.reclaimed = False

    def fits(self, needs: Needs) -> bool:
        return (
            self.free_cpu >= needs.cpu
            and self.free_memory >= needs.memory
            and len(self.free_gpus) >= needs.gpus
        )

    def take(self, needs: Needs) -> list[str]:
        self.free_cpu -= needs.cpu
        self.free_memory -= needs.memory
        gpus, self.free_gpus = self.free_gpus[: needs.gpus], self.free_gpus[needs.gpus :]
        return gpus

    def give_back(self, needs: Needs, gpus: list[str]) -> None:
        self.free_cpu += needs.cpu
        self.free_memory += needs.memory
        self.free_gpus.extend(gpus)

    @property
    def idle(self) -> bool:
        return not self.runs and not self.reserved


class CapacityManager:
    def __init__(self, schedule: Schedule, on_placed: Callable[[TaskRun, float], None], timings: Any) -> None:
        self._schedule = schedule
        self._on_placed = on_placed
        self.timings = timings
        self._waiting: dict[ProviderKey, list[TaskRun]] = {}
        self._instances: dict[ProviderKey, list[SimInstance]] = {}
        self._dirty: set[ProviderKey] = set()
        self._gpus_of: dict[str, list[str]] = {}  # task ARN -> GPU ids it holds

    def instances(self) -> list[SimInstance]:
        return [inst for group in self._instances.values() for inst in group]

    def enqueue(self, run: TaskRun) -> None:
        key = (run.region, run.provider or "")
        self._waiting.setdefault(key, []).append(run)
        self._dirty.add(key)

    def waiting_count(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    def forget(self, run: TaskRun) -> None:
        """A PROVISIONING task stopped: drop it from the queue and give back what was reserved for it."""
        key = (run.region, run.provider or "")
        queue = self._waiting.get(key)
        if queue and run in queue:
            queue.remove(run)
        inst = run.reserved
        if inst is not None:
            run.reserved = None
            if run in inst.reserved:
                inst.reserved.remove(run)
            inst.give_back(run.needs, self._gpus_of.pop(run.arn, []))
        self._dirty.add(key)

    def recheck(self) -> None:
        """Look at every waiting task again: the group's MaxSize or managed scaling may have changed."""
        self._dirty.update(key for key, queue in self._waiting.items() if queue)

    def tick(self, now: float) -> None:
        while self._dirty:
            self._fill(self._dirty.pop(), now)

    def release(self, run: TaskRun, now: float) -> None:
        """A placed task stopped: free its share of the instance."""
        inst = run.instance
        if inst is None:
            return
        run.instance = None
        inst.runs.discard(run.arn)
        inst.give_back(run.needs, self._gpus_of.pop(run.arn, []))
        self._sync_remaining(inst)
        if inst.reclaimed and not inst.runs:
            self._retire(inst)
        elif inst.idle:
            self._mark_idle(inst, now)
        self._dirty.add(inst.key)

    def reclaim(self, inst: SimInstance) -> None:
        """A spot interruption takes the instance away once its tasks have stopped."""
        inst.reclaimed = True
        if not inst.runs and not inst.reserved:
            self._retire(inst)

    def reset(self) -> None:
        self._waiting.clear()
        self._instances.clear()
        self._dirty.clear()
        self._gpus_of.clear()

    # Placement and scale-out.

    def _fill(self, key: ProviderKey, now: float) -> None:
        queue = self._waiting.get(key)
        if not queue:
            return
        instances = self._instances.setdefault(key, [])
        remaining = []
        for run in queue:
            if run.stopping or run.finished:
                continue
            if run.reserved is not None:
                remaining.append(run)
                continue
            active = self._first_fit(instances, run, "ACTIVE")
            if active is not None:
                self._gpus_of[run.arn] = active.take(run.needs)
                self._attach(run, active, now)
                continue
            launching = self._first_fit(instances, run, "LAUNCHING") or self._launch(key, run, now)
            if launching is not None:
                self._gpus_of[run.arn] = launching.take(run.needs)
                launching.reserved.append(run)
                run.reserved = launching
            remaining.append(run)
        queue[:] = remaining

    @staticmethod
    def _first_fit(instances: list[SimInstance], run: TaskRun, state: str) -> SimInstance | None:
        for inst in instances:
            usable = inst.state == state and not inst.reclaimed and inst.cluster_name == run.cluster_name
            # memberOf "runningTasksCount == 0" (ECS cluster query language): only an instance running nothing.
            if usable and run.exclusive and not inst.idle:
                continue
            if usable and inst.fits(run.needs):
                return inst
        return None

    def _attach(self, run: TaskRun, inst: SimInstance, now: float) -> None:
        run.instance = inst
        inst.runs.add(run.arn)
        inst.idle_since = None
        run.task.container_instance_arn = inst.container_instance.container_instance_arn
        gpus = self._gpus_of.get(run.arn)
        if gpus:
            for container in run.containers.values():
                if _asks_gpu(run, container.name):
                    container.gpu_ids = gpus
        self._sync_remaining(inst)
        self._on_placed(run, now)

    def _launch(self, key: ProviderKey, run: TaskRun, now: float) -> SimInstance | None:
        provider, group = self._group_of(run)
        if provider is None or group is None:
            return None
        scaling = provider.auto_scaling_group_provider.get("managedScaling") or {}
        if scaling.get("status") != "ENABLED":
            return None
        if len(group.instance_states) >= (group.max_size or 0):
            return None
        resources = next(
            (r for r in map(resources_of, candidate_types(group)) if _type_fits(r, run.needs)),
            None,
        )
        if resources is None:
            return None
        before = {state.instance.id for state in group.instance_states}
        group.desired_capacity = max(group.desired_capacity or 0, len(before) + 1)
        group.replace_autoscaling_group_instances(1, group.get_propagated_tags())
        state = next(s for s in group.instance_states if s.instance.id not in before)
        state.instance.instance_type = resources.instance_type
        state.instance_type = resources.instance_type
        if _launches_spot(group, len(before)):
            state.instance.lifecycle = "spot"
        state.instance.image_id = _resolve_image(state.instance.image_id, run.region)
        inst = SimInstance(state.instance.id, resources, key, run.cluster_name, run.backend)
        self._instances.setdefault(key, []).append(inst)
        self._schedule(now + self.timings.instance_launch_s, lambda at: self._registered(inst, at))
        return inst

    def _registered(self, inst: SimInstance, at: float) -> None:
        """The instance booted and its ECS agent registered it: place the tasks it was launched for."""
        if inst.state != "LAUNCHING":
            return
        try:
            ci = inst.backend.register_container_instance(inst.cluster_name, inst.ec2_id)
        except Exception:  # the cluster went away while the instance booted
            self._retire(inst)
            return
        ci.capacity_provider_name = inst.key[1]
        inst.container_instance = ci
        inst.state = "ACTIVE"
        self._sync_registered(inst)
        reserved, inst.reserved = inst.reserved, []
        for run in reserved:
            run.reserved = None
            if run.stopping or run.finished:
                inst.give_back(run.needs, self._gpus_of.pop(run.arn, []))
                continue
            queue = self._waiting.get(inst.key)
            if queue and run in queue:
                queue.remove(run)
            self._attach(run, inst, at)
        self._sync_remaining(inst)
        if inst.idle:
            self._mark_idle(inst, at)
        self._dirty.add(inst.key)

    # Scale-in.

    def _mark_idle(self, inst: SimInstance, now: float) -> None:
        inst.idle_since = now
        self._schedule(now + self.timings.idle_instance_s, lambda at: self._retire_if_idle(inst, now))

    def _retire_if_idle(self, inst: SimInstance, since: float) -> None:
        if inst.state == "ACTIVE" and inst.idle and inst.idle_since == since:
            self._retire(inst)

    def _retire(self, inst: SimInstance) -> None:
        """Deregister the container instance and terminate the EC2 instance, shrinking the group by one."""
        if inst.state == "GONE":
            return
        inst.state = "GONE"
        group_list = self._instances.get(inst.key, [])
        if inst in group_list:
            group_list.remove(inst)
        if inst.container_instance is not None:
            with contextlib.suppress(Exception):
                inst.backend.deregister_container_instance(
                    inst.cluster_name, inst.container_instance.container_instance_arn, True
                )
        asg = autoscaling_backends[DEFAULT_ACCOUNT_ID][inst.key[0]]
        for group in list(asg.autoscaling_groups.values()):
            states = [s for s in group.instance_states if s.instance.id != inst.ec2_id]
            if len(states) != len(group.instance_states):
                group.instance_states = states
                group.desired_capacity = max(group.min_size or 0, (group.desired_capacity or 1) - 1)
        with contextlib.suppress(Exception):
            asg.ec2_backend.terminate_instances([inst.ec2_id])

    # Bookkeeping on moto's objects.

    def _group_of(self, run: TaskRun) -> tuple[Any, Any]:
        provider = run.backend.capacity_providers.get(run.provider or "")
        if provider is None:
            return None, None
        arn = (provider.auto_scaling_group_provider or {}).get("autoScalingGroupArn", "")
        name = arn.split(ASG_ARN_NAME_MARKER)[-1]
        return provider, autoscaling_backends[DEFAULT_ACCOUNT_ID][run.region].autoscaling_groups.get(name)

    @staticmethod
    def _sync_registered(inst: SimInstance) -> None:
        resources = inst.resources
        for listing in (
            inst.container_instance.registered_resources,
            inst.container_instance.remaining_resources,
        ):
            for entry in listing:
                if entry["name"] == "CPU":
                    entry["integerValue"] = resources.cpu_units
                elif entry["name"] == "MEMORY":
                    entry["integerValue"] = resources.registered_memory_mib
            if resources.gpus:
                gpus = {"name": "GPU", "type": "STRINGSET", "stringSetValue": list(inst.free_gpus)}
                listing.append({**gpus, "doubleValue": 0.0, "integerValue": 0, "longValue": 0})

    @staticmethod
    def _sync_remaining(inst: SimInstance) -> None:
        ci = inst.container_instance
        if ci is None:
            return
        for entry in ci.remaining_resources:
            if entry["name"] == "CPU":
                entry["integerValue"] = inst.free_cpu
            elif entry["name"] == "MEMORY":
                entry["integerValue"] = inst.free_memory
            elif entry["name"] == "GPU":
                entry["stringSetValue"] = list(inst.free_gpus)
        ci.running_tasks_count = len(inst.runs)


def candidate_types(group: Any) -> list[str]:
    """Instance types the group may launch: MixedInstancesPolicy overrides in order, else the template's."""
    policy = group.mixed_instances_policy or {}
    overrides = (policy.get("LaunchTemplate") or {}).get("Overrides") or []
    types = [o["InstanceType"] for o in overrides if o.get("InstanceType")]
    if not types:
        try:
            template_type = group.instance_type
        except Exception:
            template_type = None
        if template_type:
            types = [template_type]
    return types


def _type_fits(resources: InstanceResources, needs: Needs) -> bool:
    return (
        resources.cpu_units >= needs.cpu
        and resources.registered_memory_mib >= needs.memory
        and resources.gpus >= needs.gpus
    )


def _launches_spot(group: Any, running: int) -> bool:
    distribution = (group.mixed_instances_policy or {}).get("InstancesDistribution") or {}
    base = int(distribution.get("OnDemandBaseCapacity", 0) or 0)
    on_demand_percent = int(distribution.get("OnDemandPercentageAboveBaseCapacity", 100) or 0)
    return bool(group.mixed_instances_policy) and running >= base and on_demand_percent < 100


def _resolve_image(image_id: str | None, region: str) -> str | None:
    if not image_id or not image_id.startswith(RESOLVE_SSM_PREFIX):
        return image_id
    parameter = ssm_backends[DEFAULT_ACCOUNT_ID][region].get_parameter(image_id[len(RESOLVE_SSM_PREFIX) :])
    return parameter.value if parameter is not None else image_id


def _asks_gpu(run: TaskRun, container: str) -> bool:
    requirements = run.overrides.get(container, {}).get("resourceRequirements")
    if requirements is None:
        requirements = run.definitions.get(container, {}).get("resourceRequirements") or []
    return any(r.get("type") == "GPU" for r in requirements)
