"""The token in a distributed split-merge job's --sm-cluster (plan/split_merge.py), at the gateway: pyodm creates
submodel tasks with it as ODM's remote executor does; their ODMJobs carry the parent (labels, annotation, and the
owner when the parent lives in the gateway's namespace) and all.zip's list from ``outputs``; the token sees only
its own tasks, never the console API; a forged one is refused. Against an in-process gateway over the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from pyodm import Node
from pyodm.exceptions import NodeResponseError

from odm_operator import API_GROUP, API_VERSION, PLURAL
from odm_operator.plan.split_merge import job_token
from odm_sandbox.stack import GATEWAY_NAMESPACE, Stack

from .conftest import LocalGateway, eventually, jobs_of

pytestmark = pytest.mark.e2e

TOKEN = "local-gateway-token"
# opendm/remote.py ReconstructionTask: what a submodel's first pass asks all.zip to hold.
RECONSTRUCTION_OUTPUTS = ["opensfm/matches", "opensfm/features", "opensfm/reconstruction.json",
                          "opensfm/tracks.csv", "cameras.json"]  # fmt: skip


@pytest.fixture(scope="module")
def gw(stack: Stack) -> Iterator[LocalGateway]:
    local = LocalGateway(stack, token=TOKEN).start()
    yield local
    local.stop()


def node(gw: LocalGateway, token: str) -> Node:
    return Node.from_url(f"{gw.url}/?token={token}")


@pytest.fixture(scope="module")
def parent(custom) -> Iterator[dict]:
    body = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "ODMJob",
            "metadata": {"name": "big-survey", "namespace": GATEWAY_NAMESPACE},
            "spec": {"input": {"s3Uri": "s3://odm-gateway-staging/none/"},
                     "output": {"s3Uri": "s3://odm-gateway-output/none/"}, "suspend": True}}  # fmt: skip
    job = custom.create_namespaced_custom_object(API_GROUP, API_VERSION, GATEWAY_NAMESPACE, PLURAL, body)
    yield job
    custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, GATEWAY_NAMESPACE, PLURAL, "big-survey")


def test_a_submodel_task_is_tied_to_its_parent_and_gets_the_outputs_it_asked_for(gw, custom, images, parent):
    sub = node(gw, job_token(TOKEN, GATEWAY_NAMESPACE, "big-survey"))
    task = sub.create_task(images(2), {"skip-report": True, "max-concurrency": "1"},
                           skip_post_processing=True, outputs=RECONSTRUCTION_OUTPUTS)  # fmt: skip
    (job,) = jobs_of(custom, task.uuid)
    meta = job["metadata"]
    assert meta["labels"]["odm-operator.io/split-merge-parent"] == "big-survey"
    assert meta["labels"]["odm-operator.io/split-merge-parent-namespace"] == GATEWAY_NAMESPACE
    assert meta["annotations"]["odm-operator.io/split-merge-parent"] == f"{GATEWAY_NAMESPACE}/big-survey"
    assert [(o["kind"], o["name"], o["uid"]) for o in meta["ownerReferences"]] == [
        ("ODMJob", "big-survey", parent["metadata"]["uid"])
    ]
    assert job["spec"]["output"]["archivePaths"] == RECONSTRUCTION_OUTPUTS
    assert "pc-ept" not in job["spec"]["odm"]["options"]  # skipPostProcessing
    assert node(gw, TOKEN).get_task(task.uuid).cancel()
    eventually(lambda: task.info().status.value == 50, 60, "CANCELED")
    assert node(gw, TOKEN).get_task(task.uuid).restart()  # by the gateway's token: still the parent's task
    (restarted,) = [j for j in jobs_of(custom, task.uuid) if not j["metadata"].get("deletionTimestamp")]
    assert (
        restarted["metadata"]["annotations"]["odm-operator.io/split-merge-parent"]
        == f"{GATEWAY_NAMESPACE}/big-survey"
    )
    assert restarted["metadata"]["ownerReferences"][0]["uid"] == parent["metadata"]["uid"]
    assert task.remove()


def test_a_parent_token_sees_only_its_own_tasks_and_not_the_console(gw, images):
    mine = node(gw, job_token(TOKEN, "team-a", "survey-1"))
    theirs = node(gw, job_token(TOKEN, "team-b", "survey-2"))
    admin = node(gw, TOKEN)
    task = mine.create_task(images(1), {})
    other = theirs.create_task(images(1), {})
    try:
        listed = {t["uuid"] for t in requests.get(f"{gw.url}/task/list", params={"token": mine.token}).json()}
        assert task.uuid in listed and other.uuid not in listed
        assert {task.uuid, other.uuid} <= {t["uuid"] for t in requests.get(f"{gw.url}/task/list",
                                                                            params={"token": TOKEN}).json()}  # fmt: skip
        with pytest.raises(NodeResponseError, match="not found"):
            mine.get_task(other.uuid).info()
        answer = requests.post(
            f"{gw.url}/task/remove", params={"token": mine.token}, data={"uuid": other.uuid}
        )
        assert answer.json() == {"success": False, "error": f"{other.uuid} not found"}
        assert admin.get_task(other.uuid).info().uuid == other.uuid  # still there
        console = requests.get(f"{gw.url}/api/jobs", headers={"Authorization": f"Bearer {mine.token}"})
        assert console.status_code == 401
    finally:
        assert admin.get_task(task.uuid).remove() and admin.get_task(other.uuid).remove()


@pytest.mark.parametrize(
    "token",
    [
        job_token("another-gateways-token", "team-a", "survey-1"),  # made with another key
        job_token(TOKEN, "team-a", "survey-1").replace("survey-1", "survey-9"),  # the name changed
        "sm1.0000.team-a.survey-1",
    ],
)
def test_a_forged_split_merge_token_is_refused(gw, token):
    answer = requests.get(f"{gw.url}/info", params={"token": token})
    assert answer.status_code == 401
