"""Bad input to the NodeODM API gets a clear error (HTTP 200 with {"error"}, as NodeODM answers) and leaves
nothing half-created: no object in S3, no upload session, no ODMJob. Against a gateway with small limits
(maxImages 3, files up to 6 MiB) served in-process over the sandbox's Kubernetes and S3."""

from __future__ import annotations

import io
import json
import uuid as uuidlib
import zipfile
from collections.abc import Iterator

import pytest
import requests

from odm_operator.sandbox.stack import GATEWAY_OUTPUT_BUCKET, GATEWAY_STAGING_BUCKET, Stack

from .conftest import LocalGateway, jobs_of, keys_under

pytestmark = pytest.mark.e2e

MAX_FILE = 6 * 1024 * 1024  # over one 5 MiB part, so an oversize file is refused mid multipart upload


@pytest.fixture(scope="module")
def gw(stack: Stack) -> Iterator[LocalGateway]:
    local = LocalGateway(stack, max_images=3, max_file_bytes=MAX_FILE, upload_session_seconds=600).start()
    yield local
    local.stop()


def post(gw: LocalGateway, path: str, **kwargs) -> dict:
    answer = requests.post(f"{gw.url}{path}", params={"token": "local-gateway-token"}, timeout=60, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def init(gw: LocalGateway, **fields) -> str:
    return post(gw, "/task/new/init", data=fields)["uuid"]


def files(*names: str, body: bytes = b"\xff\xd8jpeg") -> list:
    return [("images", (name, io.BytesIO(body), "image/jpeg")) for name in names]


def staged(stack: Stack, uuid: str) -> list[str]:
    return keys_under(stack, GATEWAY_STAGING_BUCKET, f"local/{uuid}/")


def nothing_left(stack: Stack, custom, uuid: str) -> bool:
    return (
        not staged(stack, uuid)
        and not jobs_of(custom, uuid)
        and not keys_under(stack, GATEWAY_OUTPUT_BUCKET, f"local/{uuid}/")
    )


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("../evil.jpg", id="parent-directory traversal"),
        pytest.param("sub/dir.jpg", id="a path, not a file name"),
        pytest.param("..\\win.jpg", id="a Windows path"),
        pytest.param(".hidden.jpg", id="a dot file (could shadow the session marker's neighbours)"),
        pytest.param("tab\there.jpg", id="a control character"),
        pytest.param("x" * 252 + ".jpg", id="longer than 255 characters"),
        pytest.param("payload.exe", id="not an image, text list, align file or seed.zip"),
    ],
)
def test_an_odd_file_name_is_refused_and_nothing_is_stored(gw, stack, name):
    uuid = init(gw)
    answer = post(gw, f"/task/new/upload/{uuid}", files=files(name))
    assert answer["noRetry"] is True and "Invalid file" in answer["error"]
    assert staged(stack, uuid) == [f"local/{uuid}/session.json"]


def test_text_files_are_routed_as_nodeodm_routes_them(gw, stack):
    uuid = init(gw)
    post(gw, f"/task/new/upload/{uuid}", files=files("A.JPG", "my_gcps.txt", "geo.txt", "image_groups.txt"))
    names = {key.rsplit("/", 1)[-1] for key in staged(stack, uuid)}
    assert names == {"session.json", "A.JPG", "gcp_list.txt", "geo.txt", "image_groups.txt"}
    assert post(gw, "/task/remove", data={"uuid": uuid}) == {"success": True}


def _zip(*members: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for member in members:
            archive.writestr(member, b"x")
    return out.getvalue()


@pytest.mark.parametrize(
    "member",
    [
        pytest.param("../../outside.txt", id="zip-slip through '..'"),
        pytest.param("/etc/passwd", id="an absolute path"),
        pytest.param("C:/Windows/x.dll", id="a drive letter"),
    ],
)
def test_a_seed_zip_that_writes_outside_the_project_is_refused(gw, stack, member):
    uuid = init(gw)
    seed = [("images", ("seed.zip", io.BytesIO(_zip("opensfm/exif/a.exif", member)), "application/zip"))]
    answer = post(gw, f"/task/new/upload/{uuid}", files=seed)
    assert "outside the project" in answer["error"] and answer["noRetry"] is True
    assert staged(stack, uuid) == [f"local/{uuid}/session.json"]


def test_a_sound_seed_zip_is_kept_for_the_project(gw, stack):
    uuid = init(gw)
    seed = [("images", ("seed.zip", io.BytesIO(_zip("opensfm/exif/a.exif")), "application/zip"))]
    assert post(gw, f"/task/new/upload/{uuid}", files=seed) == {"success": True}
    assert f"local/{uuid}/images/seed.zip" in staged(stack, uuid)
    post(gw, "/task/remove", data={"uuid": uuid})


def test_more_images_than_max_images_are_refused_and_the_session_keeps_what_it_had(gw, stack):
    uuid = init(gw)
    assert post(gw, f"/task/new/upload/{uuid}", files=files("1.jpg", "2.jpg", "3.jpg")) == {"success": True}
    answer = post(gw, f"/task/new/upload/{uuid}", files=files("4.jpg"))
    assert "at most 3 (maxImages)" in answer["error"] and answer["noRetry"] is True
    assert len([k for k in staged(stack, uuid) if k.endswith(".jpg")]) == 3
    post(gw, "/task/remove", data={"uuid": uuid})


def test_a_single_request_task_over_max_images_leaves_nothing(gw, stack, custom):
    wanted = str(uuidlib.uuid4())
    answer = post(
        gw, "/task/new", files=files("1.jpg", "2.jpg", "3.jpg", "4.jpg"), headers={"set-uuid": wanted}
    )
    assert "maxImages" in answer["error"]
    assert nothing_left(stack, custom, wanted)


def test_an_oversize_file_is_refused_mid_upload_and_its_parts_are_aborted(gw, stack):
    uuid = init(gw)
    answer = post(gw, f"/task/new/upload/{uuid}", files=files("huge.jpg", body=b"\0" * (MAX_FILE + 1)))
    assert f"larger than the limit of {MAX_FILE} bytes" in answer["error"]
    assert staged(stack, uuid) == [f"local/{uuid}/session.json"]
    uploads = stack.client("s3").list_multipart_uploads(
        Bucket=GATEWAY_STAGING_BUCKET, Prefix=f"local/{uuid}/"
    )
    assert uploads.get("Uploads", []) == []
    post(gw, "/task/remove", data={"uuid": uuid})


def test_an_unknown_upload_session_is_refused(gw):
    unknown = str(uuidlib.uuid4())
    assert (
        post(gw, f"/task/new/upload/{unknown}", files=files("a.jpg"))["error"] == "Invalid uuid (not found)"
    )
    assert post(gw, f"/task/new/commit/{unknown}")["error"] == "Invalid uuid (not found)"
    assert (
        post(gw, "/task/new/upload/not-a-uuid", files=files("a.jpg"))["error"] == "Invalid uuid (not found)"
    )


def test_an_expired_upload_session_is_refused_and_its_files_deleted(gw, stack, custom):
    uuid = init(gw)
    post(gw, f"/task/new/upload/{uuid}", files=files("a.jpg"))
    gw.now += 601
    try:
        assert "expired" in post(gw, f"/task/new/commit/{uuid}")["error"]
    finally:
        gw.now -= 601
    assert nothing_left(stack, custom, uuid)


def test_a_commit_without_images_is_refused_and_the_session_removed(gw, stack, custom):
    uuid = init(gw)
    post(gw, f"/task/new/upload/{uuid}", files=files("gcp.txt"))
    assert "at least 1 image" in post(gw, f"/task/new/commit/{uuid}")["error"]
    assert nothing_left(stack, custom, uuid)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            [{"name": "dsn", "value": True}], "did you mean 'dsm'", id="an unknown option (NodeODM drops it)"
        ),
        pytest.param(
            [{"name": "project-path", "value": "/x"}], "set by the operator", id="an option the operator owns"
        ),
        pytest.param(
            [{"name": "feature-quality", "value": "best"}], "must be one of", id="a value outside the choices"
        ),
        pytest.param([{"name": "mesh-size", "value": "many"}], "takes an integer", id="not a number"),
        pytest.param("{not json", "not JSON", id="options that are not JSON"),
    ],
)
def test_options_failing_validation_are_refused_at_init(gw, stack, options, expected):
    wanted = str(uuidlib.uuid4())
    raw = options if isinstance(options, str) else json.dumps(options)
    answer = post(gw, "/task/new/init", data={"options": raw}, headers={"set-uuid": wanted})
    assert expected in answer["error"]
    assert staged(stack, wanted) == []


def test_set_uuid_is_honoured_once_and_must_be_a_uuid(gw, stack):
    wanted = str(uuidlib.uuid4())
    assert init_with(gw, wanted) == {"uuid": wanted}
    assert "already exists" in init_with(gw, wanted)["error"]
    assert "not a UUID" in init_with(gw, "odm-pipeline-123")["error"]
    post(gw, "/task/remove", data={"uuid": wanted})


def init_with(gw: LocalGateway, wanted: str) -> dict:
    return post(gw, "/task/new/init", data={"name": "x"}, headers={"set-uuid": wanted})


def test_an_unknown_task_is_not_found_as_nodeodm_says_it(gw):
    unknown = str(uuidlib.uuid4())
    answer = requests.get(
        f"{gw.url}/task/{unknown}/info", params={"token": "local-gateway-token"}, timeout=10
    )
    assert answer.json() == {"error": f"{unknown} not found"}
    assert post(gw, "/task/cancel", data={"uuid": unknown}) == {"error": f"{unknown} not found"}
    assert post(gw, "/task/remove", data={"uuid": unknown})["success"] is False


def test_a_single_request_task_is_created_with_its_fields(gw, stack, custom):
    wanted = str(uuidlib.uuid4())
    fields = {"name": "one shot", "options": json.dumps([{"name": "dsm", "value": "true"}])}
    answer = post(gw, "/task/new", data=fields, files=files("1.jpg", "2.jpg"), headers={"set-uuid": wanted})
    assert answer == {"uuid": wanted}
    (job,) = jobs_of(custom, wanted)
    assert job["spec"]["odm"]["options"] == {"dsm": True, "pc-ept": True, "cog": True}
    assert job["spec"]["input"]["s3Uri"] == f"s3://{GATEWAY_STAGING_BUCKET}/local/{wanted}/images/"
    info = requests.get(
        f"{gw.url}/task/{wanted}/info", params={"token": "local-gateway-token"}, timeout=10
    ).json()
    assert (info["name"], info["imagesCount"], info["status"]["code"]) == ("one shot", 2, 20)
    assert post(gw, "/task/remove", data={"uuid": wanted}) == {"success": True}


def test_a_refused_upload_request_takes_its_new_files_with_it(gw, stack):
    uuid = init(gw)
    post(gw, f"/task/new/upload/{uuid}", files=files("1.jpg"))
    answer = post(gw, f"/task/new/upload/{uuid}", files=files("1.jpg", "2.jpg", "../3.jpg"))
    assert "Invalid file" in answer["error"]
    assert sorted(k.rsplit("/", 1)[-1] for k in staged(stack, uuid)) == ["1.jpg", "session.json"]
    post(gw, "/task/remove", data={"uuid": uuid})


def test_a_retried_upload_at_the_image_limit_is_accepted_once(gw, stack):
    uuid = init(gw)
    post(gw, f"/task/new/upload/{uuid}", files=files("1.jpg", "2.jpg", "3.jpg"))
    assert post(gw, f"/task/new/upload/{uuid}", files=files("3.jpg")) == {"success": True}  # pyodm's retry
    assert len([k for k in staged(stack, uuid) if k.endswith(".jpg")]) == 3
    post(gw, "/task/remove", data={"uuid": uuid})
