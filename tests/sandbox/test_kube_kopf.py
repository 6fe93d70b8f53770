"""kopf against the emulator: finalizers, status writes, deletion and peering behave as on a cluster."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import kopf
import kube_fixtures
import kubernetes
from kube_fixtures import GROUP, PLURAL, VERSION, create_job, get_job, job_exists

emulator, api_client, custom = kube_fixtures.emulator, kube_fixtures.api_client, kube_fixtures.custom

FINALIZER = "odm-operator.io/stop-task"
DEADLINE = 10.0


def tiny_operator(url: str, seen: dict[str, list[str]]) -> kopf.OperatorRegistry:
    """An operator in the shape of ours: a finalizer, a status write on create, cleanup on delete."""
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.posting.level = logging.WARNING
        settings.queueing.error_delays = [0.05] * 10  # recover from injected API errors quickly
        settings.networking.error_backoffs = [0.05, 0.1]

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def create(name: str, patch: kopf.Patch, **_: Any) -> None:
        seen["created"].append(name)
        patch.status["phase"] = "Running"
        patch.status["progress"] = {"percent": 10, "stage": "stage-in"}

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def delete(name: str, **_: Any) -> None:
        seen["deleted"].append(name)

    return registry


async def until(check: Callable[[], Any]) -> Any:
    """Poll a blocking check in a thread until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {DEADLINE}s: {result!r}")
        await asyncio.sleep(0.01)


async def run_operator(registry: kopf.OperatorRegistry, scenario: Callable[[], Any], **options: Any) -> None:
    stop = asyncio.Event()
    options.setdefault("standalone", True)
    operator = asyncio.create_task(
        kopf.operator(registry=registry, stop_flag=stop, clusterwide=True, **options)
    )
    try:
        await scenario()
    finally:
        stop.set()
        await asyncio.wait_for(operator, DEADLINE)


def test_kopf_adds_its_finalizer_writes_status_and_releases_the_object_on_delete(emulator, custom):
    seen: dict[str, list[str]] = {"created": [], "deleted": []}

    async def scenario() -> None:
        await asyncio.to_thread(create_job, custom, "farm")

        def handled() -> dict | None:
            job = get_job(custom, "farm")
            return job if job.get("status", {}).get("phase") == "Running" else None

        job = await until(handled)
        assert job["metadata"]["finalizers"] == [FINALIZER]
        assert job["status"]["progress"] == {"percent": 10, "stage": "stage-in"}
        assert "kopf.zalando.org/last-handled-configuration" in job["metadata"]["annotations"]
        assert seen["created"] == ["farm"]

        await asyncio.to_thread(
            custom.delete_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "farm"
        )
        await until(lambda: not job_exists(custom, "farm"))
        assert seen["deleted"] == ["farm"]

    asyncio.run(run_operator(tiny_operator(emulator.url, seen), scenario))


def test_kopf_survives_dropped_watches_and_injected_conflicts(emulator, custom):
    seen: dict[str, list[str]] = {"created": [], "deleted": []}

    async def scenario() -> None:
        await until(lambda: emulator.call(emulator.store.subscription_count) >= 2)
        emulator.drop_watches(PLURAL)  # kopf must re-watch from its last resourceVersion
        emulator.faults.reject(verb="patch", resource=PLURAL, subresource="", status=500, times=1)
        await asyncio.to_thread(create_job, custom, "farm")
        await until(lambda: emulator.faults.injected == 1)
        assert (
            "finalizers" not in (await asyncio.to_thread(get_job, custom, "farm"))["metadata"]
        )  # refused as a whole
        # As on a cluster, kopf carries on with the object on its next change.
        body = {"metadata": {"labels": {"touched": "yes"}}}
        await asyncio.to_thread(
            custom.patch_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "farm", body
        )
        await until(lambda: get_job(custom, "farm").get("status", {}).get("phase") == "Running")
        assert seen["created"] == ["farm"]

    asyncio.run(run_operator(tiny_operator(emulator.url, seen), scenario))


def test_kopf_peers_through_the_peering_resources(emulator, api_client):
    seen: dict[str, list[str]] = {"created": [], "deleted": []}
    peerings = kubernetes.client.CustomObjectsApi(api_client)
    peerings.create_cluster_custom_object(
        "kopf.dev",
        "v1",
        "clusterkopfpeerings",
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "odm"}},
    )

    async def scenario() -> None:
        def announced() -> dict | None:
            peering = peerings.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", "odm")
            return peering.get("status")

        status = await until(announced)
        (identity,) = status.values()
        assert identity["priority"] == 0 and identity["lifetime"] == 60

    asyncio.run(
        run_operator(tiny_operator(emulator.url, seen), scenario, standalone=False, peering_name="odm")
    )
