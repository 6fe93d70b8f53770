"""Table tests of what the web console shows (gateway/web_view.py) and of its submit fields (web_api.py)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from odm_operator.gateway import nodeodm as n
from odm_operator.gateway import web_view as v
from odm_operator.gateway.web_api import apply_submit_fields, is_public, submit_fields


def job(name: str, created: str, phase: str | None = None, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "odm-gateway", "creationTimestamp": created},
        "spec": {"capacity": {"type": "fargate", "spot": True}},
    }
    if phase:
        body["status"] = {"phase": phase, **status}
    return body


def many(count: int) -> list[dict[str, Any]]:
    phases = v.PHASES
    return [
        job(f"job-{i:05d}", f"2026-12-03T10:{i // 60 % 60:02d}:{i % 60:02d}Z", phases[i % len(phases)])
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(job("a", "t"), {"phase": "Pending", "percent": 0}, id="no status yet reads as Pending"),
        pytest.param(
            job("a", "t", "Running", progress={"percent": 42, "stage": "openmvs"}),
            {"phase": "Running", "percent": 42, "stage": "openmvs"},
            id="progress and the ODM stage come from status.progress",
        ),
        pytest.param(
            job("a", "t", "Succeeded"), {"percent": 100}, id="a success without progress reads as 100 percent"
        ),
        pytest.param(
            job("a", "t", "Failed", reason="OutOfMemory", message="ODM ran out of memory"),
            {"reason": "OutOfMemory", "message": "ODM ran out of memory"},
            id="reason and message are shown",
        ),
        pytest.param(
            job("a", "t", "Running", aws={"capacityProvider": "FARGATE_SPOT"}),
            {"capacity": "fargate spot (FARGATE_SPOT)"},
            id="capacity names the type, spot and the provider in use",
        ),
        pytest.param(
            {
                **job("nodeodm-x", "t", "Running"),
                "metadata": {
                    "name": "nodeodm-x",
                    "labels": {n.LABEL_TASK: "x"},
                    "annotations": {n.ANN_NAME: "Farm north", n.ANN_IMAGES: "12"},
                },
            },
            {"title": "Farm north", "uuid": "x", "images": 12},
            id="a NodeODM task shows the name it was given and its image count",
        ),
    ],
)
def test_a_row_shows_what_a_person_needs(body: dict[str, Any], expected: dict[str, Any]):
    row = v.summary(body)
    assert {k: row[k] for k in expected} == expected


def test_the_list_is_newest_first_with_counts_per_phase_over_all_jobs():
    body = v.page(many(30), None, 1, 10)
    names = [row["name"] for row in body["items"]]
    assert names == [f"job-{i:05d}" for i in range(29, 19, -1)]
    assert sum(body["counts"].values()) == 30 and body["pages"] == 3


@pytest.mark.parametrize(
    ("phase", "number", "per_page", "expected_page", "expected_items"),
    [
        pytest.param("Failed", 1, 200, 1, 143, id="a phase filter keeps only that phase (143 of 1000 fail)"),
        pytest.param(None, 20, 50, 20, 50, id="the last full page"),
        pytest.param(None, 99, 50, 20, 50, id="a page past the end is the last page (the list shrank)"),
        pytest.param(None, 1, 200, 1, 200, id="the largest page"),
    ],
)
def test_paging_and_filtering(phase, number, per_page, expected_page, expected_items):
    body = v.page(many(1000), phase, number, per_page)
    assert (body["page"], len(body["items"])) == (expected_page, expected_items)
    if phase:
        assert {row["phase"] for row in body["items"]} == {phase}


@pytest.mark.parametrize(
    ("phase", "number", "per_page", "words"),
    [
        pytest.param(
            "Done", 1, 50, ["phase must be one of", "Succeeded"], id="an unknown phase names the allowed"
        ),
        pytest.param(None, 0, 50, ["page must be 1 or more"], id="pages count from 1"),
        pytest.param(None, 1, 500, ["per_page must be between 1 and 200"], id="a page is at most 200 rows"),
    ],
)
def test_bad_queries_are_refused_with_the_allowed_values(phase, number, per_page, words):
    with pytest.raises(v.BadQuery) as err:
        v.page(many(3), phase, number, per_page)
    assert all(word in str(err.value) for word in words)


def test_a_page_of_1000_jobs_is_built_in_well_under_the_poll_interval():
    jobs = many(1000)
    started = time.perf_counter()
    body = v.dumps(v.page(jobs, None, 1, v.DEFAULT_PER_PAGE))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"{elapsed:.3f}s for one page of 1000 jobs"  # the page polls every 2 s
    assert len(body) < 40_000  # one page, not 1000 rows, goes to the browser


def test_the_etag_changes_when_and_only_when_the_page_does():
    first = v.dumps(v.page(many(5), None, 1, 50))
    again = v.dumps(v.page(many(5), None, 1, 50))
    changed = many(5)
    changed[0]["status"]["progress"] = {"percent": 7, "stage": "dataset"}
    assert v.etag(first) == v.etag(again)
    assert v.etag(first) != v.etag(v.dumps(v.page(changed, None, 1, 50)))


def test_the_timeline_orders_conditions_and_attempts_and_says_why_an_attempt_ended():
    body = job(
        "a",
        "2026-12-03T10:00:00Z",
        "Succeeded",
        completionTime="2026-12-03T10:09:00Z",
        conditions=[
            {
                "type": "Complete",
                "status": "True",
                "reason": "Succeeded",
                "lastTransitionTime": "2026-12-03T10:09:00Z",
            },
            {
                "type": "CapacityReady",
                "status": "False",
                "reason": "ScalingOut",
                "lastTransitionTime": "2026-12-03T10:00:05Z",
            },
        ],
        attempts=[
            {
                "number": 1,
                "startedAt": "2026-12-03T10:00:10Z",
                "finishedAt": "2026-12-03T10:03:00Z",
                "stopCode": "SpotInterruption",
                "reason": "SpotInterruption",
            },
            {"number": 2, "startedAt": "2026-12-03T10:03:30Z", "memory": "16Gi"},
        ],
    )
    titles = [e["title"] for e in v.timeline(body)]
    assert titles == [
        "Created",
        "CapacityReady: no (ScalingOut)",
        "Attempt 1 started",
        "Attempt 1 ended: SpotInterruption",
        "Attempt 2 started with 16Gi memory",
        "Complete: yes (Succeeded)",
        "Finished: Succeeded",
    ]
    assert v.timeline(body)[3]["detail"] == "stop code SpotInterruption"


def test_products_are_the_single_objects_the_job_has_in_a_fixed_order():
    outputs = {
        "dsm": "s3://b/p/odm_dem/dsm.tif",
        "allZip": "s3://b/p/all.zip",
        "tiles": "s3://b/p/t/",
        "count": 9,
    }
    assert [key for key, _, _ in v.products(outputs)] == ["allZip", "dsm"]  # folders and counts are not links


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, {}, id="NodeODM clients send neither field: nothing changes"),
        pytest.param({"spot": "true"}, {"spot": True}, id="spot on"),
        pytest.param(
            {"resources": '{"cpu": 2, "memory": "8Gi"}'},
            {"resources": {"cpu": 2, "memory": "8Gi", "gpu": 0}},
            id="resources as the ODMJob takes them",
        ),
    ],
)
def test_submit_fields(fields: dict[str, str], expected: dict[str, Any]):
    assert submit_fields(fields) == expected
    spec: dict[str, Any] = {"capacity": {"type": "fargate"}}
    apply_submit_fields(spec, expected)
    assert spec["capacity"]["type"] == "fargate"  # the gateway's default capacity type is kept
    assert spec.get("resources") == expected.get("resources")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        pytest.param({"spot": "yes"}, ["Invalid spot", "true or false"], id="spot is true or false"),
        pytest.param({"resources": "{"}, ["Invalid resources: not JSON"], id="resources must be JSON"),
        pytest.param({"resources": '{"cpu": 2}'}, ["resources.memory"], id="memory is required"),
        pytest.param(
            {"resources": '{"cpu": 2, "memory": "lots"}'}, ["resources.memory"], id="a bad quantity"
        ),
    ],
)
def test_bad_submit_fields_name_the_field(fields: dict[str, str], words: list[str]):
    with pytest.raises(n.BadRequest) as err:
        submit_fields(fields)
    assert all(word in str(err.value) for word in words)


@pytest.mark.parametrize(
    ("path", "public"),
    [
        pytest.param("/", True, id="the page itself"),
        pytest.param("/web/app.js", True, id="its static files"),
        pytest.param("/api/jobs", False, id="the console's data"),
        pytest.param("/info", False, id="NodeODM routes keep their token"),
        pytest.param("/webhook", False, id="a prefix of /web/ without the slash is not public"),
    ],
)
def test_only_the_page_is_public(path: str, public: bool):
    assert is_public(path) is public
