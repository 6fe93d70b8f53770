"""The gateway's tasks in Kubernetes: ODMJobs labelled with their NodeODM task UUID.

Reads go through one snapshot of the namespace's gateway ODMJobs (one LIST, reused for
``task_list_refresh_seconds``), so hundreds of clients polling every 5 s cost the API server a bounded number
of LISTs, not one per poll. A UUID missing from the snapshot is looked up directly (a LIST by label), so a task
another replica just created is found at once: the snapshot is a cache of Kubernetes, never the truth.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kubernetes
from kubernetes.client.rest import ApiException

from .. import API_GROUP, API_VERSION, PLURAL
from .nodeodm import ANN_RUN, LABEL_TASK


def current(jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The job that is the task now: the latest run not being deleted (a restart replaces the ODMJob)."""
    alive = [j for j in jobs if not j["metadata"].get("deletionTimestamp")]
    if not alive:
        return None
    return max(alive, key=lambda j: int((j["metadata"].get("annotations") or {}).get(ANN_RUN) or 1))


class TaskStore:
    def __init__(self, api_client: kubernetes.client.ApiClient, namespace: str, refresh_seconds: float):
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.refresh_seconds = refresh_seconds
        self._snapshot: list[dict[str, Any]] = []
        self._taken = float("-inf")
        self._lock = asyncio.Lock()
        self.lists = 0  # LIST calls made (the cost the snapshot bounds)

    async def all_jobs(self) -> list[dict[str, Any]]:
        async with self._lock:
            if time.monotonic() - self._taken >= self.refresh_seconds:
                self._snapshot = await asyncio.to_thread(self._list, LABEL_TASK)
                self._taken = time.monotonic()
            return self._snapshot

    async def tasks(self) -> dict[str, dict[str, Any]]:
        """uuid -> its current job."""
        by_uuid: dict[str, list[dict[str, Any]]] = {}
        for job in await self.all_jobs():
            by_uuid.setdefault(job["metadata"]["labels"][LABEL_TASK], []).append(job)
        return {uuid: job for uuid, jobs in by_uuid.items() if (job := current(jobs)) is not None}

    async def jobs_of(self, uuid: str, fresh: bool = False) -> list[dict[str, Any]]:
        """Every ODMJob of the task (runs being deleted included)."""
        if not fresh:
            cached = [j for j in await self.all_jobs() if j["metadata"]["labels"].get(LABEL_TASK) == uuid]
            if cached:
                return cached
        return await asyncio.to_thread(self._list, f"{LABEL_TASK}={uuid}")

    async def find(self, uuid: str, fresh: bool = False) -> dict[str, Any] | None:
        return current(await self.jobs_of(uuid, fresh))

    def _list(self, selector: str) -> list[dict[str, Any]]:
        self.lists += 1
        answer = self.custom.list_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, label_selector=selector
        )
        return answer.get("items", [])

    def invalidate(self) -> None:
        self._taken = float("-inf")

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        self.invalidate()
        return await asyncio.to_thread(
            self.custom.create_namespaced_custom_object, API_GROUP, API_VERSION, self.namespace, PLURAL, body
        )

    async def get(self, name: str) -> dict[str, Any] | None:
        """One ODMJob of the namespace by name (a split-merge parent), None when there is none."""
        try:
            return await asyncio.to_thread(
                self.custom.get_namespaced_custom_object, API_GROUP, API_VERSION, self.namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.invalidate()
        return await asyncio.to_thread(
            self.custom.patch_namespaced_custom_object,
            API_GROUP,
            API_VERSION,
            self.namespace,
            PLURAL,
            name,
            patch,
        )

    async def delete(self, name: str) -> None:
        self.invalidate()
        try:
            await asyncio.to_thread(
                self.custom.delete_namespaced_custom_object,
                API_GROUP,
                API_VERSION,
                self.namespace,
                PLURAL,
                name,
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
