"""Several gateway replicas serve one API: nothing lives in one process, so a client may init on one replica,
upload to another and commit and poll anywhere (as behind a Service without session affinity)."""

from __future__ import annotations

import io

import pytest
import requests

from odm_operator.sandbox.stack import GATEWAY_OUTPUT_BUCKET, GATEWAY_STAGING_BUCKET, Stack

from .conftest import LocalGateway, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def second(stack: Stack):
    """A second replica with the sandbox gateway's settings (same namespace, prefixes and token)."""
    local = LocalGateway(
        stack,
        staging_uri=f"s3://{GATEWAY_STAGING_BUCKET}/uploads/",
        output_uri=f"s3://{GATEWAY_OUTPUT_BUCKET}/tasks/",
        token=stack.gateway_token,
    )
    yield local.start()
    local.stop()


def test_a_task_moves_between_replicas_at_every_step(stack: Stack, second: LocalGateway):
    first, token = stack.gateway_url, {"token": stack.gateway_token}
    uuid = requests.post(
        f"{first}/task/new/init", params=token, data={"name": "two replicas"}, timeout=10
    ).json()["uuid"]
    image = [("images", ("IMG_1.JPG", io.BytesIO(b"\xff\xd8jpeg"), "image/jpeg"))]
    assert requests.post(
        f"{second.url}/task/new/upload/{uuid}", params=token, files=image, timeout=10
    ).json() == {"success": True}
    assert requests.post(f"{first}/task/new/commit/{uuid}", params=token, timeout=10).json() == {"uuid": uuid}
    info = requests.get(f"{second.url}/task/{uuid}/info", params=token, timeout=10).json()
    assert (info["uuid"], info["name"], info["imagesCount"], info["status"]["code"]) == (
        uuid,
        "two replicas",
        1,
        20,
    )
    eventually(
        lambda: (
            requests.get(f"{first}/task/{uuid}/info", params=token, timeout=10).json()["status"]["code"] == 40
        ),
        60,
        "COMPLETED",
    )
    assert requests.post(
        f"{second.url}/task/remove", params=token, data={"uuid": uuid}, timeout=10
    ).json() == {"success": True}
