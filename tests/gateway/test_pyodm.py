"""The real pyodm client against the sandbox's gateway: what WebODM, pyodm scripts and ODM's split-merge do.

One stack for the module (see conftest); each test makes its own task and waits by polling with a deadline.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
import requests
from pyodm import Node
from pyodm.exceptions import NodeResponseError, TaskFailedError
from pyodm.types import TaskStatus

from odm_operator.sandbox.stack import GATEWAY_OUTPUT_BUCKET

from .conftest import eventually, jobs_of, keys_under, task_keys

pytestmark = pytest.mark.e2e


def test_node_info_and_options_read_as_a_nodeodm_node(node: Node):
    info = node.info()
    assert info.version == "2.2.4"  # strictly X.Y.Z: pyodm takes the chunked upload path
    assert info.engine == "odm" and info.engine_version == "3.6.0"
    options = {o.name: o for o in node.options()}  # NodeOption(**o) takes exactly the five keys
    assert options["feature-quality"].type == "enum"
    assert options["feature-quality"].value == "high"
    assert "ultra" in options["feature-quality"].domain
    assert options["dsm"].type == "bool" and options["dsm"].value == "false"
    assert "project-path" not in options  # the operator sets it


def test_a_bad_token_is_refused_on_every_route(node: Node):
    bad = Node(node.host, node.port, token="wrong")
    with pytest.raises(NodeResponseError):
        bad.info()
    with pytest.raises(NodeResponseError):
        bad.options()
    for path in ("/info", "/options", "/task/list"):
        assert requests.get(f"http://{node.host}:{node.port}{path}", timeout=10).status_code == 401


def test_a_task_runs_through_the_chunked_upload_and_downloads_its_products(
    node: Node, images, tmp_path: Path
):
    task = node.create_task(images(5), {"dsm": True, "orthophoto-resolution": 3}, name="farm north")
    info = task.info()
    assert info.status == TaskStatus.RUNNING  # from commit on, as split-merge requires
    assert (info.name, info.images_count) == ("farm north", 5)
    task.wait_for_completion(interval=0.2)
    done = task.info(with_output=0)
    assert done.status == TaskStatus.COMPLETED and done.progress == 100
    assert {"name": "dsm", "value": True} in done.options
    lines = done.output
    assert any("odm_dem" in line for line in lines)
    assert task.output(-3) == lines[-3:]  # negative offsets: the last lines
    assert task.output(len(lines) - 2) == lines[-2:]  # stable positive offsets
    products = Path(task.download_assets(str(tmp_path / "assets")))
    assert (products / "odm_dem" / "dsm.tif").is_file()  # all.zip paths are relative to the project root
    assert (products / "odm_orthophoto" / "odm_orthophoto.tif").is_file()


def test_the_download_is_a_redirect_to_s3_never_the_bytes(node: Node, images):
    task = node.create_task(images(3), {})
    task.wait_for_completion(interval=0.2)
    answer = requests.get(node.url(f"/task/{task.uuid}/download/all.zip"), allow_redirects=False, timeout=10)
    assert answer.status_code == 302 and len(answer.content) < 64  # a redirect, not the archive
    assert "all.zip" in answer.headers["Location"] and "Signature" in answer.headers["Location"]
    bogus = requests.get(node.url(f"/task/{task.uuid}/download/orthophoto.tif"), timeout=10).json()
    assert bogus == {"error": "Invalid asset"}


def test_cancel_stops_the_ecs_task_at_once(node: Node, images, stack, custom):
    task = node.create_task(images(5), {})
    ecs = stack.client("ecs")

    def running_arn():
        jobs = jobs_of(custom, task.uuid)
        status = (jobs[0].get("status") or {}) if jobs else {}
        return status.get("phase") == "Running" and status["aws"]["taskArn"]

    arn = eventually(running_arn, what="the task's ODMJob to run")
    assert task.cancel()
    eventually(lambda: task.info().status == TaskStatus.CANCELED, 20, "CANCELED")

    def stopped():
        described = ecs.describe_tasks(cluster="odm", tasks=[arn])["tasks"][0]
        return described["lastStatus"] == "STOPPED" and described

    described = eventually(stopped, 30, "the ECS task to stop")
    assert described["stopCode"] == "UserInitiated"
    with pytest.raises(TaskFailedError):
        task.wait_for_completion(interval=0.2)


def test_restart_runs_again_with_new_options(node: Node, images):
    task = node.create_task(images(3), {"dsm": True})
    task.wait_for_completion(interval=0.2)
    assert task.restart({"dtm": True})
    info = task.info()
    assert info.status == TaskStatus.RUNNING and info.images_count == 3
    assert {"name": "dtm", "value": True} in info.options
    assert {"name": "dsm", "value": True} not in info.options
    task.wait_for_completion(interval=0.2)
    assert any("dtm" in line for line in task.output())


def test_remove_deletes_the_odmjob_and_every_staged_and_produced_object(node: Node, images, stack, custom):
    task = node.create_task(images(3), {})
    task.wait_for_completion(interval=0.2)
    assert task_keys(stack, task.uuid)
    assert task.remove()
    assert {"uuid": task.uuid} not in node.get("/task/list")
    eventually(lambda: not jobs_of(custom, task.uuid), 30, "the ODMJob to be deleted")
    assert task_keys(stack, task.uuid) == []
    with pytest.raises(NodeResponseError, match="not found"):
        task.info()


def test_a_large_image_streams_to_s3_in_parts(node: Node, stack, tmp_path: Path):
    big = tmp_path / "BIG.JPG"
    big.write_bytes(os.urandom(12 * 1024 * 1024))  # 12 MiB: three parts (5 + 5 + 2 MiB)
    task = node.create_task([str(big)], {})
    listed = stack.client("s3").list_objects_v2(
        Bucket="odm-gateway-staging", Prefix=f"uploads/{task.uuid}/images/"
    )
    (item,) = listed["Contents"]
    assert (item["Key"].rsplit("/", 1)[-1], item["Size"]) == ("BIG.JPG", big.stat().st_size)
    assert item["ETag"].strip('"').endswith("-3")  # S3's multipart ETag: <md5 of the parts>-<part count>
    assert task.remove()
    assert keys_under(stack, GATEWAY_OUTPUT_BUCKET, f"tasks/{task.uuid}/") == []


def test_all_zip_holds_the_products_at_the_project_root(node: Node, images, tmp_path: Path):
    task = node.create_task(images(3), {"dsm": True})
    task.wait_for_completion(interval=0.2)
    path = Path(task.download_zip(str(tmp_path)))
    names = zipfile.ZipFile(path).namelist()
    assert "odm_dem/dsm.tif" in names and not any(
        n.startswith("/") or n.startswith("project/") for n in names
    )
