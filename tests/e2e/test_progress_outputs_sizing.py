"""Live ODM progress, product URIs in status, sizing from the dataset and out-of-memory escalation."""

from __future__ import annotations

import time

import pytest

from odm_operator.contract import ODM_STAGES

from .conftest import E2E, odmjob

pytestmark = pytest.mark.e2e
ORDER = [name for name, _ in ODM_STAGES]


def test_progress_rises_through_odms_stages_in_order_and_reaches_100(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("watch", ns, odm={"options": {"dsm": True}})
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{ns}-watch", 150)
    e2e.apply(obj)
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 90
    phase = None
    while phase not in ("Succeeded", "Failed") and time.monotonic() < deadline:
        status = (e2e.get(ns, "watch") or {}).get("status") or {}
        phase = status.get("phase")
        progress = status.get("progress")
        if progress and (not seen or seen[-1] != (progress["stage"], progress["percent"])):
            seen.append((progress["stage"], progress["percent"]))
        time.sleep(0.05)
    assert phase == "Succeeded"
    percents = [p for _, p in seen]
    assert percents == sorted(percents), f"progress went backwards: {seen}"
    odm_stages = [s for s, _ in seen if s in ORDER]
    assert len(set(odm_stages)) >= 3, f"saw too few ODM stages: {seen}"
    assert odm_stages == sorted(odm_stages, key=ORDER.index), f"stages out of order: {seen}"
    assert seen[-1] == ("completed", 100)
    column = e2e.kubectl("get", "odmj", "watch", "-n", ns, "--no-headers").stdout.split()
    assert "100" in column


def test_outputs_list_exactly_the_products_the_job_wrote(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(odmjob("products", ns, odm={"options": {"dsm": True, "dtm": True}}))
    status = e2e.wait_phase(ns, "products", "Succeeded", "Failed")["status"]
    assert status["phase"] == "Succeeded"
    prefix = f"{ns}/products/"
    listed = e2e.s3.list_objects_v2(Bucket="odm-sandbox-output", Prefix=prefix)["Contents"]
    keys = {o["Key"][len(prefix) :] for o in listed}
    outputs = status["outputs"]
    base = f"s3://odm-sandbox-output/{prefix}"
    assert outputs["count"] == len(listed)
    assert outputs["totalBytes"] == sum(o["Size"] for o in listed)
    uris = {k: v for k, v in outputs.items() if k not in ("count", "totalBytes")}
    assert all(uri.startswith(base) and uri[len(base) :] in keys for uri in uris.values())
    assert {"orthophoto", "dsm", "dtm", "pointCloud", "report", "log"} <= set(uris)
    assert uris["dsm"] == base + "odm_dem/dsm.tif"


def test_a_600_image_dataset_without_resources_gets_the_1500_image_row(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("sized", ns, dataset="medium", capacity={"type": "ec2"})
    del obj["spec"]["resources"]
    e2e.apply(obj)
    status = e2e.wait_phase(ns, "sized", "Running", "Succeeded", "Failed", timeout=60)["status"]
    sizing = status["sizing"]
    assert sizing["images"] == 600 and sizing["bytes"] > 0
    assert sizing["rule"] == "<=1500 images -> 64 GB"
    assert sizing["memory"] == "64G"
    td = e2e.ecs.describe_task_definition(taskDefinition=status["aws"]["taskDefinitionArn"])["taskDefinition"]
    assert int(td["memory"]) == 61036
    e2e.kubectl("delete", "odmjob", "sized", "-n", ns, "--wait=true", "--timeout=30s")


def test_an_empty_prefix_without_resources_fails_before_any_task(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("nothing", ns, dataset="empty")
    del obj["spec"]["resources"]
    e2e.apply(obj)
    job = e2e.wait_phase(ns, "nothing", "Failed")
    assert job["status"]["reason"] == "InputUnavailable"
    assert e2e.tasks_of(job["metadata"]["uid"]) == []


def test_out_of_memory_escalates_once_and_succeeds_with_more_memory(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("grow", ns, resources={"cpu": 2, "memory": "8Gi"})
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{ns}-grow", 100)
    e2e.apply(obj)
    status = e2e.wait_phase(ns, "grow", "Succeeded", "Failed", timeout=90)["status"]
    assert status["phase"] == "Succeeded", status
    first, second = status["attempts"]
    assert (first["reason"], first["exitCode"], first["memory"]) == ("OutOfMemory", 137, "8 GiB")
    assert second["reason"] == "Succeeded" and second["memory"] == "15 GiB"


def test_out_of_memory_with_on_out_of_memory_fail_fails_once(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("nogrow", ns, resources={"cpu": 2, "memory": "8Gi"}, retryPolicy={"onOutOfMemory": "fail"})
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{ns}-nogrow", 100)
    e2e.apply(obj)
    status = e2e.wait_phase(ns, "nogrow", "Failed", "Succeeded", timeout=60)["status"]
    assert status["reason"] == "OutOfMemory" and len(status["attempts"]) == 1
