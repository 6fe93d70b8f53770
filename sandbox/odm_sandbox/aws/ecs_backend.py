"""Corrections to moto's ECS backend that make it answer like ECS, installed on each backend instance it uses.

moto's RunTask on an Auto Scaling group capacity provider with no registered instance fails with HTTP 500; ECS
accepts the task in PROVISIONING and scales out (the operator depends on that to scale from zero). moto's
StopTask jumps straight to STOPPED without a stop code; ECS sets desiredStatus STOPPED, deletes the task's
tags and lets the agent stop the containers. moto's DescribeCapacityProviders without names fails with HTTP 500
(ECS lists them all). moto's PutClusterCapacityProviders removes a provider that tasks still use; ECS refuses
with ResourceInUseException. moto's ListTasks returns every task when no desiredStatus is
given (ECS: RUNNING only), and its DescribeTasks scans every task of every cluster per requested ARN. The
patches replace those methods on the backend *instance* (never on moto's classes, so other moto users in the
process are untouched); moto's reset creates new instances, so the HTTP middleware calls ``ensure`` before
every ECS request.
"""

from __future__ import annotations

from typing import Any

from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import Task

from .agent import SimulatedEcsAgent
from .task_run import FARGATE_PROVIDERS

PATCHED_MARKER = "_odm_sandbox_patched"

# RunTask's documented ceiling (not adjustable).
MAX_TASKS_PER_RUN = 10
# DescribeTasks takes at most this many tasks per call.
MAX_DESCRIBE_TASKS = 100

NOT_ASSOCIATED_MESSAGE = (
    "The specified capacity provider strategy cannot contain a capacity provider that is not associated "
    "with the cluster. Associate the capacity provider with the cluster or specify a valid capacity "
    "provider and try again."
)

IN_USE_MESSAGE = "The specified capacity provider is in use and cannot be removed."


class ResourceInUseException(ECSException):
    def __init__(self, message: str) -> None:
        super().__init__("ResourceInUseException", message)


class EcsBackendPatches:
    def __init__(self, agent: SimulatedEcsAgent) -> None:
        self.agent = agent
        # RunTask's placementConstraints, set by the middleware from the request (moto's handler drops them).
        self.placement: list[dict[str, Any]] = []

    def ensure(self, backend: Any) -> None:
        """Install the patches unless this sandbox already did.

        moto's state is per process, so one sandbox at a time; a second one re-binds the backend to itself.
        """
        owner = backend.__dict__.get(PATCHED_MARKER)
        if owner is self:
            return
        if owner is not None:  # another sandbox patched it: rebind to ours, over moto's own methods
            for name in (
                "run_task",
                "stop_task",
                "describe_tasks",
                "list_tasks",
                "describe_capacity_providers",
                "put_cluster_capacity_providers",
            ):
                backend.__dict__.pop(name, None)
        original_run_task = backend.run_task

        def run_task(
            cluster_str: str,
            task_definition_str: str,
            count: int,
            overrides: dict[str, Any] | None,
            started_by: str,
            tags: list[dict[str, str]] | None,
            launch_type: str | None,
            networking_configuration: dict[str, Any] | None = None,
            group: str | None = None,
            platform_version: str | None = None,
            capacity_provider_strategy: list[dict[str, Any]] | None = None,
        ) -> list[Task]:
            if count is not None and count > MAX_TASKS_PER_RUN:
                raise InvalidParameterException(f"count must be between 1 and {MAX_TASKS_PER_RUN}.")
            cluster = backend._get_cluster(cluster_str)
            strategy = capacity_provider_strategy
            if not strategy and not launch_type:
                strategy = cluster.default_capacity_provider_strategy
            provider = None
            if strategy and not launch_type:
                _check_associated(cluster, strategy)
                provider = _pick_provider(strategy)
            if provider is not None and provider not in FARGATE_PROVIDERS:
                tasks = _run_on_auto_scaling_provider(
                    backend, cluster, task_definition_str, count or 1, overrides, started_by, tags,
                    networking_configuration, group, platform_version, provider,
                )  # fmt: skip
            else:
                chosen = [s for s in strategy if s["capacityProvider"] == provider][:1] if provider else None
                tasks = original_run_task(
                    cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type,
                    networking_configuration, group, platform_version, chosen or capacity_provider_strategy,
                )  # fmt: skip
            placement, self.placement = self.placement, []
            for task in tasks:
                self.agent.adopt(backend, task, placement)
            return tasks

        def stop_task(cluster_str: str, task_str: str, reason: str | None) -> Task:
            cluster = backend._get_cluster(cluster_str)
            task = _find_task(backend, cluster, task_str)
            if task is None:
                raise InvalidParameterException("The referenced task was not found.")
            self.agent.request_stop(backend, task, reason)
            return task

        def describe_tasks(cluster_str: str, tasks: list[str]) -> list[Task]:
            cluster = backend._get_cluster(cluster_str)
            if not tasks:
                raise InvalidParameterException("Tasks cannot be empty.")
            if len(tasks) > MAX_DESCRIBE_TASKS:
                raise InvalidParameterException(f"Tasks cannot have more than {MAX_DESCRIBE_TASKS} elements.")
            found: dict[str, Task] = {}
            for ref in tasks:
                task = _find_task(backend, cluster, ref)
                if task is not None:
                    found.setdefault(task.task_arn, task)
            return list(found.values())

        original_list_tasks = backend.list_tasks

        def list_tasks(
            cluster_str: str | None = None,
            container_instance: str | None = None,
            family: str | None = None,
            started_by: str | None = None,
            service_name: str | None = None,
            desiredStatus: str | None = None,  # noqa: N803 - moto's parameter name
        ) -> list[Task]:
            return original_list_tasks(
                cluster_str, container_instance, family, started_by, service_name, desiredStatus or "RUNNING"
            )

        original_describe_providers = backend.describe_capacity_providers

        def describe_capacity_providers(names: list[str] | None) -> tuple[list[Any], list[Any]]:
            # ECS lists every provider of the account when no names are given; moto fails with HTTP 500.
            return original_describe_providers(names if names else list(backend.capacity_providers))

        original_put_providers = backend.put_cluster_capacity_providers

        def put_cluster_capacity_providers(
            cluster_name: str,
            capacity_providers: list[str] | None,
            default_strategy: list[dict[str, Any]] | None,
        ) -> Any:
            cluster = backend._get_cluster(cluster_name)
            if capacity_providers is not None:
                removed = set(cluster.capacity_providers or []) - set(capacity_providers)
                for task in backend.tasks.get(cluster.name, {}).values():
                    if task.capacity_provider_name in removed and task.last_status != "STOPPED":
                        raise ResourceInUseException(IN_USE_MESSAGE)
            return original_put_providers(cluster_name, capacity_providers, default_strategy)

        backend.describe_capacity_providers = describe_capacity_providers
        backend.put_cluster_capacity_providers = put_cluster_capacity_providers
        backend.run_task = run_task
        backend.stop_task = stop_task
        backend.describe_tasks = describe_tasks
        backend.list_tasks = list_tasks
        backend.__dict__[PATCHED_MARKER] = self


def _check_associated(cluster: Any, strategy: list[dict[str, Any]]) -> None:
    associated = set(cluster.capacity_providers or [])
    for item in strategy:
        if item.get("capacityProvider") not in associated:
            raise InvalidParameterException(NOT_ASSOCIATED_MESSAGE)


def _pick_provider(strategy: list[dict[str, Any]]) -> str:
    """The provider a single task goes to: one with a base, else the heaviest weight (ties: first listed)."""
    with_base = [item for item in strategy if int(item.get("base") or 0) > 0]
    if with_base:
        return with_base[0]["capacityProvider"]
    return max(strategy, key=lambda item: int(item.get("weight") or 0))["capacityProvider"]


def _find_task(backend: Any, cluster: Any, ref: str) -> Task | None:
    """A task of ``cluster`` by full ARN, short ARN or ID, in O(1)."""
    tasks = backend.tasks.get(cluster.name, {})
    task = tasks.get(ref)
    if task is not None:
        return task
    task_id = ref.rsplit("/", 1)[-1]
    base = cluster.arn.replace(":cluster/", ":task/", 1)
    task = tasks.get(f"{base}/{task_id}")
    if task is None:
        task = tasks.get(f"{base.rsplit('/', 1)[0]}/{task_id}")
    return task


def _run_on_auto_scaling_provider(
    backend: Any,
    cluster: Any,
    task_definition_str: str,
    count: int,
    overrides: dict[str, Any] | None,
    started_by: str | None,
    tags: list[dict[str, str]] | None,
    networking_configuration: dict[str, Any] | None,
    group: str | None,
    platform_version: str | None,
    provider: str,
) -> list[Task]:
    """Tasks accepted in PROVISIONING, as ECS does with managed scaling; the agent places them when it can."""
    if provider not in backend.capacity_providers:
        raise InvalidParameterException(NOT_ASSOCIATED_MESSAGE)
    task_definition = backend.describe_task_definition(task_definition_str)
    if getattr(task_definition, "status", "ACTIVE") != "ACTIVE":
        raise InvalidParameterException("TaskDefinition is inactive")
    group = group or f"family:{task_definition.family}"
    requirements = backend._calculate_task_resource_requirements(task_definition)
    cluster_tasks = backend.tasks.setdefault(cluster.name, {})
    tasks = []
    for _ in range(count):
        task = Task(
            cluster,
            task_definition,
            None,
            requirements,
            backend=backend,
            group=group,
            launch_type="",
            overrides=overrides or {},
            started_by=started_by or "",
            tags=tags or [],
            networking_configuration=networking_configuration,
            platform_version=platform_version,
            capacity_provider_name=provider,
        )
        cluster_tasks[task.task_arn] = task
        tasks.append(task)
    return tasks
