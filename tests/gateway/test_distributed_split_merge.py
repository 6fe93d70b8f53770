"""Distributed split-merge end to end: an ODMJob with spec.odm.splitMerge.distributed runs ODM with --sm-cluster at
the gateway (the operator injects it with the job's own token); the simulated ODM does what ODM's remote executor
does (odm_remote.py: split, a local and a remote worker, submodel tasks created with the real pyodm client, polled,
their all.zip downloaded, removed, then the merge). Checked from the outside: the submodel ODMJobs that ran (seen
with a Kubernetes watch), their labels and archive lists, ODM's own log, their removal, and the parent's products
in S3."""

from __future__ import annotations

import re
import threading
from typing import Any

import kubernetes
import pytest

from odm_operator import API_GROUP, API_VERSION, PLURAL
from odm_sandbox.stack import GATEWAY_NAMESPACE, Stack

from .conftest import eventually

pytestmark = pytest.mark.e2e

IN_BUCKET, OUT_BUCKET = "split-input", "split-output"
IMAGES, SPLIT = 12, 4  # three submodels of four images
PARENT_LABEL = "odm-operator.io/split-merge-parent"
RECONSTRUCTION_OUTPUTS = ["opensfm/matches", "opensfm/features", "opensfm/reconstruction.json",
                          "opensfm/tracks.csv", "cameras.json"]  # fmt: skip
TOOLCHAIN_OUTPUTS = ["odm_orthophoto/cutline.gpkg", "odm_orthophoto/odm_orthophoto_cut.tif",
                     "odm_orthophoto/odm_orthophoto_feathered.tif", "odm_dem", "odm_report", "odm_georeferencing"]  # fmt: skip


class Watcher:
    """Every ODMJob event in the gateway's namespace for one parent, from before the parent exists."""

    def __init__(self, api: Any, parent: str):
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.parent = parent
        self.seen: dict[str, list[dict]] = {}  # job name -> its versions, in order
        self._stop = threading.Event()
        listed = self.custom.list_namespaced_custom_object(API_GROUP, API_VERSION, GATEWAY_NAMESPACE, PLURAL)
        self._version = listed["metadata"]["resourceVersion"]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._watch()
        except Exception:
            if (
                not self._stop.is_set()
            ):  # the stack stopping ends the watch: only an unexpected end is an error
                raise

    def _watch(self) -> None:
        while not self._stop.is_set():
            stream = kubernetes.watch.Watch().stream(
                self.custom.list_namespaced_custom_object, API_GROUP, API_VERSION, GATEWAY_NAMESPACE, PLURAL,
                label_selector=f"{PARENT_LABEL}={self.parent}", resource_version=self._version, timeout_seconds=5,
            )  # fmt: skip
            for event in stream:
                job = event["object"]
                self._version = job["metadata"]["resourceVersion"]
                self.seen.setdefault(job["metadata"]["name"], []).append(job)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture(scope="module")
def buckets(stack: Stack) -> None:
    for bucket in (IN_BUCKET, OUT_BUCKET):
        stack.client("s3").create_bucket(Bucket=bucket)


def _images(stack: Stack, prefix: str) -> None:
    for i in range(IMAGES):
        stack.client("s3").put_object(
            Bucket=IN_BUCKET, Key=f"{prefix}/DJI_{i:04d}.JPG", Body=b"\xff\xd8" + bytes(2048)
        )


def _log(stack: Stack, job: dict) -> list[str]:
    aws = job["status"]["aws"]
    logs = stack.client("logs")
    events = logs.get_log_events(
        logGroupName=aws["logGroup"], logStreamName=aws["logStream"], startFromHead=True
    )
    return [e["message"] for e in events["events"]]


def test_each_submodel_runs_as_its_own_odmjob_through_the_gateway_and_the_parent_merges(
    stack, custom, buckets
):
    _images(stack, "survey")
    api = kubernetes.config.new_client_from_config(str(stack.kubeconfig))
    watcher = Watcher(api, "big-survey")
    body = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ODMJob",
            "metadata": {"name": "big-survey", "namespace": "default"},
            "spec": {"input": {"s3Uri": f"s3://{IN_BUCKET}/survey/"}, "output": {"s3Uri": f"s3://{OUT_BUCKET}/big/"},
                     "odm": {"options": {"split": SPLIT, "dsm": True}, "splitMerge": {"distributed": True}},
                     "capacity": {"type": "fargate"}}}  # fmt: skip
    custom.create_namespaced_custom_object(API_GROUP, API_VERSION, "default", PLURAL, body)

    def finished() -> dict | None:
        job = custom.get_namespaced_custom_object(API_GROUP, API_VERSION, "default", PLURAL, "big-survey")
        return job if (job.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None

    parent = eventually(finished, 180, "the parent job to finish")
    watcher.stop()
    log = _log(stack, parent)
    text = "\n".join(log)
    assert parent["status"]["phase"] == "Succeeded", text[-3000:]

    # ODM's own account (opendm/remote.py): every submodel of each pass done once, locally or remotely.
    assert text.count("LRE: Adding to queue submodel_") == 2 * 3
    assert len(re.findall(r"LRE: submodel_\d{4} finished successfully", text)) == 2 * 3
    remote_uuids = re.findall(r"LRE: Cleaning up remote task \(([0-9a-f-]{36})\)\.\.\. OK", text)
    assert len(remote_uuids) == text.count("remotely") >= 2, (
        "at least one submodel per pass went to the gateway"
    )
    assert text.count("LRE: No remote tasks left to cleanup") == 2  # each pass ends with it
    assert "Running opensfm stage" not in text  # the parent runs dataset, split, merge, odm_postprocess only

    # The submodel ODMJobs that ran: one per remote task, tied to the parent, each with its pass's archive list.
    ran = {versions[0]["metadata"]["labels"]["odm-operator.io/nodeodm-task"]: versions
           for versions in watcher.seen.values()}  # fmt: skip
    assert set(ran) == set(remote_uuids)
    archives = []
    for versions in ran.values():
        meta = versions[0]["metadata"]
        assert meta["labels"]["odm-operator.io/split-merge-parent-namespace"] == "default"
        assert meta["annotations"]["odm-operator.io/split-merge-parent"] == "default/big-survey"
        assert versions[0]["spec"]["odm"]["options"]["skip-report"] is True  # get_submodel_argv adds it
        assert "split" not in versions[0]["spec"]["odm"]["options"]
        assert any((v.get("status") or {}).get("phase") == "Succeeded" for v in versions)
        archives.append(versions[0]["spec"]["output"]["archivePaths"])
    assert RECONSTRUCTION_OUTPUTS in archives and TOOLCHAIN_OUTPUTS in archives

    # Removed by ODM once their assets were downloaded, as on NodeODM and ClusterODM.
    left = custom.list_namespaced_custom_object(API_GROUP, API_VERSION, GATEWAY_NAMESPACE, PLURAL,
                                                label_selector=f"{PARENT_LABEL}=big-survey")  # fmt: skip
    assert left["items"] == []

    # The parent's merged products.
    keys = {
        o["Key"] for o in stack.client("s3").list_objects_v2(Bucket=OUT_BUCKET, Prefix="big/")["Contents"]
    }
    for product in ("odm_orthophoto/odm_orthophoto.tif", "odm_dem/dsm.tif",
                    "odm_georeferencing/odm_georeferenced_model.laz", "all.zip"):  # fmt: skip
        assert f"big/{product}" in keys, sorted(keys)


def test_deleting_the_parent_stops_odm_which_removes_its_submodel_tasks(stack, custom, buckets):
    """ODM's exit on SIGTERM (opendm/system.py exit_gracefully) runs LocalRemoteExecutor's cleanup callback: every
    remote task still listed is removed. Deleting the parent ODMJob stops its ECS task, so its submodels go too."""
    _images(stack, "gone")
    body = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ODMJob",
            "metadata": {"name": "doomed-survey", "namespace": "default"},
            "spec": {"input": {"s3Uri": f"s3://{IN_BUCKET}/gone/"}, "output": {"s3Uri": f"s3://{OUT_BUCKET}/gone/"},
                     "odm": {"options": {"split": SPLIT}, "splitMerge": {"distributed": True}},
                     "capacity": {"type": "fargate"}}}  # fmt: skip
    api = kubernetes.config.new_client_from_config(str(stack.kubeconfig))
    watcher = Watcher(api, "doomed-survey")
    custom.create_namespaced_custom_object(API_GROUP, API_VERSION, "default", PLURAL, body)

    def submodels() -> list[dict]:
        answer = custom.list_namespaced_custom_object(API_GROUP, API_VERSION, GATEWAY_NAMESPACE, PLURAL,
                                                      label_selector=f"{PARENT_LABEL}=doomed-survey")  # fmt: skip
        return answer["items"]

    eventually(submodels, 120, "a submodel task at the gateway")
    custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, "default", PLURAL, "doomed-survey")

    def parent_gone() -> bool:
        try:
            custom.get_namespaced_custom_object(API_GROUP, API_VERSION, "default", PLURAL, "doomed-survey")
        except kubernetes.client.ApiException as exc:
            return exc.status == 404
        return False

    eventually(parent_gone, 60, "the parent to be deleted")
    eventually(lambda: submodels() == [], 60, "ODM to remove its submodel tasks")
    watcher.stop()
    # Removed at once, not left to finish: none of them got to Succeeded, and no second pass was sent.
    phases = [(v.get("status") or {}).get("phase") for versions in watcher.seen.values() for v in versions]
    assert "Succeeded" not in phases
    assert 1 <= len(watcher.seen) <= 2
    assert all(
        "opensfm/reconstruction.json" in v[0]["spec"]["output"]["archivePaths"] for v in watcher.seen.values()
    )


def test_a_distributed_job_whose_dataset_is_not_split_runs_in_its_own_task(stack, custom, buckets):
    """ODM asks the cluster for its info (opendm/config.py), then finds a normal dataset: no submodel task."""
    _images(stack, "small")
    body = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ODMJob",
            "metadata": {"name": "small-survey", "namespace": "default"},
            "spec": {"input": {"s3Uri": f"s3://{IN_BUCKET}/small/"}, "output": {"s3Uri": f"s3://{OUT_BUCKET}/small/"},
                     "odm": {"options": {"split": 400}, "splitMerge": {"distributed": True}},
                     "capacity": {"type": "fargate"}}}  # fmt: skip
    custom.create_namespaced_custom_object(API_GROUP, API_VERSION, "default", PLURAL, body)

    def finished() -> dict | None:
        job = custom.get_namespaced_custom_object(API_GROUP, API_VERSION, "default", PLURAL, "small-survey")
        return job if (job.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None

    job = eventually(finished, 120, "the job to finish")
    text = "\n".join(_log(stack, job))
    assert job["status"]["phase"] == "Succeeded", text[-2000:]
    assert "sm_cluster: http://" in text  # the operator gave ODM the gateway; ODM asked it and went on
    assert "Normal dataset, will process all at once." in text and "LRE:" not in text
    left = custom.list_namespaced_custom_object(API_GROUP, API_VERSION, GATEWAY_NAMESPACE, PLURAL,
                                                label_selector=f"{PARENT_LABEL}=small-survey")  # fmt: skip
    assert left["items"] == []
