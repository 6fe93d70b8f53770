"""ECS gateway: clusters, task definitions, RunTask, DescribeTasks in batches, ListTasks, StopTask.

Observe calls return values and change nothing; create calls are guarded (content-addressed task definition
families, RunTask clientToken + startedBy adoption). Every method translates botocore errors into AwsCallError,
classified by aws/errors.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import AwsCallError, is_not_found
from .pacing import READ_TASKS_BURST, READ_TASKS_RATE, RUN_TASK_BURST, RUN_TASK_RATE, Pacer

# DescribeTasks takes at most 100 tasks per call; ListTasks returns at most 100 per page.
DESCRIBE_BATCH = 100
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


@contextmanager
def aws_call(operation: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise AwsCallError(operation, exc) from exc


class EcsGateway:
    def __init__(self, client: Any, tags: list[dict[str, str]] | None = None):
        self.client = client
        self.tags = tags or []
        self._clusters: set[str] = set()
        self._families: dict[str, str] = {}  # family -> task definition ARN (content-addressed: never stale)
        self._family_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        # PutClusterCapacityProviders replaces the whole list: serialize our read-modify-writes.
        self._cluster_lock = threading.Lock()
        self.run_pacer = Pacer(RUN_TASK_BURST, RUN_TASK_RATE)  # RunTask and StopTask share ECS's bucket
        self.read_pacer = Pacer(READ_TASKS_BURST, READ_TASKS_RATE)  # DescribeTasks and ListTasks share one

    # ----- clusters ------------------------------------------------------------------------------------------

    def ensure_cluster(self, name: str, create: bool, fargate: bool) -> None:
        """The cluster exists and, for Fargate jobs, has the FARGATE providers attached."""
        key = f"{name}|{fargate}"
        if key in self._clusters:
            return
        with self._cluster_lock:
            if key in self._clusters:
                return
            with aws_call("DescribeClusters"):
                found = self.client.describe_clusters(clusters=[name]).get("clusters", [])
            cluster = next((c for c in found if c.get("status") == "ACTIVE"), None)
            if cluster is None:
                if not create:
                    raise AwsCallError(
                        "DescribeClusters",
                        ClientError(
                            {
                                "Error": {
                                    "Code": "ClusterNotFoundException",
                                    "Message": f"cluster {name} not found and createCluster is false",
                                }
                            },
                            "DescribeClusters",
                        ),
                    )
                with aws_call("CreateCluster"):
                    self.client.create_cluster(
                        clusterName=name, capacityProviders=list(FARGATE_PROVIDERS), tags=self.tags
                    )
            elif fargate and not set(FARGATE_PROVIDERS) <= set(cluster.get("capacityProviders", [])):
                self._attach(name, cluster, FARGATE_PROVIDERS)
            self._clusters.add(key)

    def forget_cluster(self, name: str) -> None:
        """Look at the cluster again on the next ensure (its providers changed behind our back)."""
        with self._cluster_lock:
            self._clusters = {k for k in self._clusters if not k.startswith(f"{name}|")}

    def cluster_providers(self, cluster: str) -> list[str] | None:
        """The providers attached to the cluster, or None when it does not exist yet."""
        with aws_call("DescribeClusters"):
            found = self.client.describe_clusters(clusters=[cluster]).get("clusters", [])
        active = next((c for c in found if c.get("status") == "ACTIVE"), None)
        return None if active is None else list(active.get("capacityProviders", []))

    def attach_provider(self, cluster: str, provider: str) -> None:
        """Attach ``provider`` keeping every provider already on the cluster (read-modify-write, serialized)."""
        with self._cluster_lock:
            with aws_call("DescribeClusters"):
                found = self.client.describe_clusters(clusters=[cluster]).get("clusters", [])
            if found and provider not in found[0].get("capacityProviders", []):
                self._attach(cluster, found[0], (provider,))

    def detach_provider(self, cluster: str, provider: str) -> None:
        """Remove ``provider`` from the cluster, keeping every other provider and the default strategy."""
        with self._cluster_lock:
            with aws_call("DescribeClusters"):
                found = self.client.describe_clusters(clusters=[cluster]).get("clusters", [])
            if not found or provider not in found[0].get("capacityProviders", []):
                return
            current = [p for p in found[0].get("capacityProviders", []) if p != provider]
            strategy = [
                s
                for s in found[0].get("defaultCapacityProviderStrategy", [])
                if s.get("capacityProvider") != provider
            ]
            with aws_call("PutClusterCapacityProviders"):
                self.client.put_cluster_capacity_providers(
                    cluster=cluster, capacityProviders=current, defaultCapacityProviderStrategy=strategy
                )
            self._clusters = {k for k in self._clusters if not k.startswith(f"{cluster}|")}

    def _attach(self, name: str, cluster: dict[str, Any], providers: tuple[str, ...]) -> None:
        current = list(cluster.get("capacityProviders", []))
        wanted = current + [p for p in providers if p not in current]
        with aws_call("PutClusterCapacityProviders"):
            self.client.put_cluster_capacity_providers(
                cluster=name,
                capacityProviders=wanted,
                defaultCapacityProviderStrategy=cluster.get("defaultCapacityProviderStrategy", []),
            )

    # ----- task definitions ----------------------------------------------------------------------------------

    def ensure_task_definition(self, request: dict[str, Any]) -> str:
        """ARN of the task definition for ``request``; Describe on a cold cache, Register only when absent."""
        family = request["family"]
        with self._lock:
            cached = self._families.get(family)
            # One pass per family describes and registers; the others wait for its answer (no extra revisions).
            flight = self._family_locks.setdefault(family, threading.Lock())
        if cached:
            return cached
        with flight:
            with self._lock:
                cached = self._families.get(family)
            return cached or self._describe_or_register(family, request)

    def _describe_or_register(self, family: str, request: dict[str, Any]) -> str:
        arn = None
        try:
            response = self.client.describe_task_definition(taskDefinition=family)
            definition = response["taskDefinition"]
            if definition.get("status") == "ACTIVE":
                arn = definition["taskDefinitionArn"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ClientException":
                raise AwsCallError("DescribeTaskDefinition", exc) from exc
        except BotoCoreError as exc:
            raise AwsCallError("DescribeTaskDefinition", exc) from exc
        if arn is None:
            with aws_call("RegisterTaskDefinition"):
                arn = self.client.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]
        with self._lock:
            self._families[family] = arn
        return arn

    # ----- tasks ---------------------------------------------------------------------------------------------

    def run_task(self, request: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The started task (or None) and RunTask's failures[]."""
        self.run_pacer.acquire()
        with aws_call("RunTask"):
            response = self.client.run_task(**request)
        tasks = response.get("tasks", [])
        return (tasks[0] if tasks else None), response.get("failures", [])

    def describe_tasks(self, cluster: str, arns: list[str], tags: bool = False) -> list[dict[str, Any]]:
        """Tasks for ``arns``, in calls of at most 100 ARNs."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(arns), DESCRIBE_BATCH):
            batch = arns[start : start + DESCRIBE_BATCH]
            kwargs: dict[str, Any] = {"cluster": cluster, "tasks": batch}
            if tags:
                kwargs["include"] = ["TAGS"]
            self.read_pacer.acquire()
            with aws_call("DescribeTasks"):
                out.extend(self.client.describe_tasks(**kwargs).get("tasks", []))
        return out

    def tasks_started_by(self, cluster: str, started_by: str) -> list[dict[str, Any]]:
        """Every task started with ``started_by`` that ListTasks shows, with tags. ``startedBy`` is sent alone:
        "When you specify startedBy as the filter, it must be the only filter that you use" (ListTasks API
        reference), so ECS's default desired status (RUNNING) applies; a stopped attempt is not listed, and its
        RunTask, asked again with the same clientToken, answers with the original task (ECS idempotency)."""
        arns: list[str] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"cluster": cluster, "startedBy": started_by}
            if token:
                kwargs["nextToken"] = token
            self.read_pacer.acquire()
            with aws_call("ListTasks"):
                page = self.client.list_tasks(**kwargs)
            arns.extend(a for a in page.get("taskArns", []) if a not in arns)
            token = page.get("nextToken")
            if not token:
                break
        return self.describe_tasks(cluster, arns, tags=True) if arns else []

    def stop_task(self, cluster: str, arn: str, reason: str) -> None:
        """Stop a task; a task that is already gone counts as stopped."""
        self.run_pacer.acquire()
        try:
            self.client.stop_task(cluster=cluster, task=arn, reason=reason[:255])
        except ClientError as exc:
            if is_not_found(exc):
                return
            raise AwsCallError("StopTask", exc) from exc
        except BotoCoreError as exc:
            raise AwsCallError("StopTask", exc) from exc
