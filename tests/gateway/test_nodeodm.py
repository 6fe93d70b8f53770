"""The gateway's pure parts, table-driven: NodeODM status codes from ODMJob phases, TaskInfo fields pyodm needs,
the /options table, option conversion, file routing, seed.zip checks, output offsets and the call budget."""

from __future__ import annotations

import io
import json
import stat
import zipfile

import pytest
from pyodm.types import NodeOption, TaskInfo

from odm_operator.gateway import nodeodm as n
from odm_operator.gateway.console import TokenBucket


def job(phase=None, reason=None, annotations=None, **status):
    return {
        "metadata": {
            "name": "nodeodm-x",
            "uid": "u1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {n.LABEL_TASK: "0b6f1c8e-9a47-4d0e-8c1c-2f9e2b7d6a11"},
            "annotations": {n.ANN_NAME: "farm", n.ANN_IMAGES: "12", **(annotations or {})},
        },
        "status": {"phase": phase, "reason": reason, **status},
    }


CREATED_MS = 1767225600000


@pytest.mark.parametrize(
    ("body", "code", "error"),
    [
        pytest.param(
            job(), n.RUNNING, None, id="just committed, no status yet: RUNNING (split-merge needs it)"
        ),
        pytest.param(job("Pending", "Accepted"), n.RUNNING, None, id="pending for another reason: RUNNING"),
        pytest.param(
            job("Starting", "Starting"), n.RUNNING, None, id="ECS capacity scaling out: still RUNNING"
        ),
        pytest.param(
            job("Pending", "QuotaExceeded"), n.QUEUED, None, id="held by the concurrency quota: QUEUED"
        ),
        pytest.param(job("Running", "Running"), n.RUNNING, None, id="ODM running"),
        pytest.param(job("Succeeded", "Succeeded"), n.COMPLETED, None, id="succeeded"),
        pytest.param(job("Suspended", "Suspended"), n.CANCELED, None, id="suspended by a cancel"),
        pytest.param(
            job("Running", annotations={n.ANN_CANCELED: "true"}),
            n.CANCELED,
            None,
            id="cancel asked, stopping",
        ),
        pytest.param(job("Cancelled", "TaskStopped"), n.CANCELED, None, id="stopped outside the operator"),
        pytest.param(
            job("Failed", "OutOfMemory", attempts=[{"exitCode": 137}]),
            n.FAILED,
            "Not enough memory",
            id="exit 137 as NodeODM words it",
        ),
        pytest.param(
            job("Failed", "OdmFailed", attempts=[{"exitCode": 1}]),
            n.FAILED,
            "Cannot process dataset",
            id="exit 1",
        ),
        pytest.param(
            job("Failed", "OdmFailed", attempts=[{"exitCode": 7}]),
            n.FAILED,
            "Processing failed (7)",
            id="another exit code",
        ),
        pytest.param(
            job("Failed", "InputUnavailable", message="input prefix is empty"),
            n.FAILED,
            "InputUnavailable: input prefix is empty",
            id="a failure before ODM: the operator's reason and message",
        ),
    ],
)
def test_status_codes_follow_the_odmjob(body, code, error):
    assert n.status_of(body) == (code, error)


def test_task_info_has_what_pyodm_reads():
    body = job("Running", "Running", progress={"percent": 42, "stage": "openmvs"})
    body["metadata"]["annotations"][n.ANN_DATE] = str(CREATED_MS)
    info = n.task_info(body, CREATED_MS + 5000, output=["a"])
    parsed = TaskInfo(info)  # pyodm's own parser: raises on a missing field or unknown status code
    assert (parsed.name, parsed.images_count, parsed.processing_time, parsed.progress) == (
        "farm",
        12,
        5000,
        42,
    )
    assert parsed.output == ["a"]


@pytest.mark.parametrize(
    ("body", "now", "expected"),
    [
        pytest.param(job("Running"), CREATED_MS + 10, 10, id="running: since commit"),
        pytest.param(
            job("Succeeded", completionTime="2026-01-01T00:01:00Z"),
            CREATED_MS + 10**9,
            60000,
            id="finished: fixed",
        ),
        pytest.param(job("Cancelled"), CREATED_MS + 10, -1, id="canceled: -1 as NodeODM"),
    ],
)
def test_processing_time(body, now, expected):
    assert n.task_info(body, now)["processingTime"] == expected


def test_every_option_has_exactly_the_five_keys_pyodm_accepts():
    table = n.options_table()
    assert table and all(set(o) == {"name", "type", "value", "domain", "help"} for o in table)
    for option in table:
        NodeOption(**option)  # an extra key would raise TypeError
        assert isinstance(option["value"], str) and option["type"] in (
            "int",
            "float",
            "string",
            "bool",
            "enum",
        )
    quality = next(o for o in table if o["name"] == "pc-quality")
    assert quality["domain"] == ["ultra", "high", "medium", "low", "lowest"] and quality["value"] == "medium"


@pytest.mark.parametrize(
    ("raw", "skip", "expected"),
    [
        pytest.param('[{"name":"dsm","value":"true"}]', True, {"dsm": True}, id="a flag given as a string"),
        pytest.param('[{"name":"dsm","value":false}]', True, {}, id="a false flag is left out, as NodeODM"),
        pytest.param(
            '[{"name":"mesh-size","value":"300000"}]', True, {"mesh-size": 300000}, id="an int string"
        ),
        pytest.param(
            '[{"name":"orthophoto-resolution","value":"2.5"}]',
            True,
            {"orthophoto-resolution": 2.5},
            id="a float",
        ),
        pytest.param('{"dsm": true}', True, {"dsm": True}, id="a map is accepted too"),
        pytest.param(None, True, {}, id="no options"),
        pytest.param(
            None, False, {"pc-ept": True, "cog": True}, id="post-processing switches on pc-ept and cog"
        ),
    ],
)
def test_options_are_converted_to_the_operators_types(raw, skip, expected):
    assert n.parse_options(raw, skip) == expected


@pytest.mark.parametrize(
    ("filename", "kind", "stored"),
    [
        pytest.param("DJI_0001.JPG", "image", "DJI_0001.JPG", id="an image keeps its name"),
        pytest.param("gcp_list.txt", "gcp", "gcp_list.txt", id="the GCP file"),
        pytest.param("points.txt", "gcp", "gcp_list.txt", id="any other .txt is the GCP file"),
        pytest.param("GEO.TXT", "geo", "geo.txt", id="geo.txt by name"),
        pytest.param("image_groups.txt", "image_groups", "image_groups.txt", id="image groups by name"),
        pytest.param("align.laz", "align", "align.laz", id="an alignment file"),
        pytest.param("seed.zip", "seed", "seed.zip", id="the seed archive"),
    ],
)
def test_uploads_are_routed_as_nodeodm_routes_them(filename, kind, stored):
    assert n.route_upload(filename) == n.Upload(kind, stored)


@pytest.mark.parametrize(
    "filename",
    [
        pytest.param("../a.jpg", id="traversal"),
        pytest.param("/abs.jpg", id="absolute"),
        pytest.param("", id="empty"),
        pytest.param(None, id="no filename"),
        pytest.param("..", id="dot dot"),
        pytest.param("nul\x00.jpg", id="a NUL byte"),
        pytest.param("doc.pdf", id="not an ODM input"),
    ],
)
def test_odd_upload_names_are_refused(filename):
    with pytest.raises(n.BadRequest):
        n.route_upload(filename)


def _zip(name: str, symlink: bool = False) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, b"x")
    out.seek(0)
    return out


@pytest.mark.parametrize(
    ("name", "symlink"),
    [
        pytest.param("../x", False, id="parent traversal"),
        pytest.param("a/../../x", False, id="traversal inside the path"),
        pytest.param("/etc/x", False, id="absolute"),
        pytest.param("C:/x", False, id="drive letter"),
        pytest.param("a\\..\\x", False, id="backslashes"),
        pytest.param("link", True, id="a symbolic link"),
    ],
)
def test_zip_slip_in_seed_zip_is_refused(name, symlink):
    with pytest.raises(n.BadRequest, match="outside the project"):
        n.check_seed_zip(_zip(name, symlink))


def test_a_seed_zip_with_project_paths_passes():
    assert n.check_seed_zip(_zip("opensfm/reconstruction.json")) == ["opensfm/reconstruction.json"]


def test_a_seed_that_is_not_a_zip_is_refused():
    with pytest.raises(n.BadRequest, match="not a zip"):
        n.check_seed_zip(io.BytesIO(b"not a zip"))


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        pytest.param(0, ["a", "b", "c", "d"], id="from the start"),
        pytest.param(2, ["c", "d"], id="from line 2"),
        pytest.param(-1, ["d"], id="the last line"),
        pytest.param(-3, ["b", "c", "d"], id="the last three (split-merge's capacity probe)"),
        pytest.param(9, [], id="past the end"),
    ],
)
def test_output_offsets_as_nodeodm_slices_them(start, expected):
    assert n.slice_lines(["a", "b", "c", "d"], start) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param('["../secrets"]', "not a path inside the project", id="traversal"),
        pytest.param('["opensfm/../../x"]', "not a path inside the project", id="traversal inside"),
        pytest.param('["opensfm/*.json"]', "not a path inside the project", id="a pattern"),
        pytest.param('["/etc/passwd"]', "not a path inside the project", id="absolute"),
        pytest.param('"odm_dem"', "expected a JSON list", id="not a list"),
    ],
)
def test_outputs_are_refused_with_the_reason(raw, message):
    with pytest.raises(n.BadRequest, match=message):
        n.parse_outputs(raw)


def test_outputs_as_odms_split_merge_sends_them_become_the_archive_list():
    # opendm/remote.py ReconstructionTask: the outputs a submodel's reconstruction pass asks for.
    raw = '["opensfm/matches", "opensfm/features", "opensfm/reconstruction.json", "opensfm/tracks.csv", "cameras.json"]'
    assert n.parse_outputs(raw) == json.loads(raw)


def test_no_outputs_is_the_default_archive():
    assert n.parse_outputs(None) is None and n.parse_outputs("") is None


def test_the_call_budget_allows_rate_times_time_plus_burst():
    now = [0.0]
    bucket = TokenBucket(rate=5, burst=5, clock=lambda: now[0])
    taken = 0
    for _ in range(1000):  # 10 s of 100 attempts a second
        now[0] += 0.01
        taken += bucket.take()
    assert taken <= 5 * 10 + 5 and taken >= 5 * 10 - 1


def test_the_options_defaults_are_odms_own():
    """/options shows ODM 3.6.0's defaults, checked against the facts file read from ODM's config.py."""
    import json
    from pathlib import Path

    import odm_sandbox.aws as sandbox_aws

    facts = json.loads((Path(sandbox_aws.__file__).parent / "odm_3.6.0_options.json").read_text())
    defaults = {o["name"]: o.get("default") for o in facts["options"]}
    for option in n.options_table():
        odm = defaults[option["name"]]
        if option["type"] == "bool":
            assert option["value"] == "false" and not odm, option["name"]
        elif odm in (None, "", "cpu_count") or option["name"] == "max-concurrency":
            assert option["value"] == "", option["name"]
        else:
            assert (
                float(option["value"]) == float(odm)
                if option["type"] in ("int", "float")
                else option["value"] == str(odm)
            ), option["name"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        pytest.param(
            "default_resources", {"cpu": "lots", "memory": "4Gi"}, "cpu", id="a resource that is no quantity"
        ),
        pytest.param("default_capacity", {"type": "lambda"}, "type", id="a capacity type ECS does not have"),
        pytest.param("staging_uri", "https://bucket/x", "s3://", id="staging not in S3"),
        pytest.param("token", "short", "at least 16", id="a guessable token"),
    ],
)
def test_gateway_settings_refuse_what_an_odmjob_would_refuse(field, value, message):
    from pydantic import ValidationError

    from odm_operator.gateway.settings import GatewaySettings

    base = {"staging_uri": "s3://a/b/", "output_uri": "s3://a/c/", "token": "0123456789abcdef"}
    with pytest.raises(ValidationError, match=message):
        GatewaySettings(**{**base, field: value})
