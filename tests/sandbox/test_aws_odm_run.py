"""ODM's semantics as the sandbox simulates them: options, stages, memory, products (pure, table-driven)."""

from __future__ import annotations

import json

import pytest

from odm_operator import contract
from odm_sandbox.aws.odm_run import (
    OOM_EXIT_CODE,
    OdmOptions,
    log_json,
    memory_needed_mib,
    odm_line,
    plan_odm_run,
    products_for,
    stages_for,
)

ALL_STAGES = [name for name, _ in contract.ODM_STAGES]
UNSPLIT = [s for s in ALL_STAGES if s not in ("split", "merge")]


def options(*args: str) -> OdmOptions:
    return OdmOptions.parse(["--project-path", "/data", "project", *args])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {}),
        (["--dsm"], {"dsm": True}),
        (["--dsm", "--orthophoto-resolution", "2"], {"dsm": True, "orthophoto-resolution": "2"}),
        (["--feature-quality=high"], {"feature-quality": "high"}),
        (["--dtm", "false"], {"dtm": False}),
        (["--split", "400", "--split-overlap", "150"], {"split": "400", "split-overlap": "150"}),
    ],
)
def test_odm_arguments_are_parsed_into_options(args, expected):
    parsed = options(*args)

    assert dict(parsed.values) == expected
    assert (parsed.project_path, parsed.project) == ("/data", "project")


@pytest.mark.parametrize(
    ("reason", "args", "images", "expected"),
    [
        ("a plain run skips split, merge and odm_dem", [], 30, [s for s in UNSPLIT if s != "odm_dem"]),
        ("--dsm adds odm_dem", ["--dsm"], 30, UNSPLIT),
        ("--dtm adds odm_dem", ["--dtm"], 30, UNSPLIT),
        ("--fast-orthophoto skips openmvs", ["--fast-orthophoto", "--dsm"], 30, [s for s in UNSPLIT if s != "openmvs"]),
        ("--split below the image count splits", ["--split", "100", "--dsm"], 600, ALL_STAGES),
        ("--split above the image count does not", ["--split", "1000", "--dsm"], 600, UNSPLIT),
    ],
)  # fmt: skip
def test_odm_runs_its_stages_in_order_skipping_what_the_options_turn_off(reason, args, images, expected):
    assert [name for name, _ in stages_for(options(*args), images)] == expected, reason


@pytest.mark.parametrize(
    ("images", "mib"),
    [
        (1, 3815),
        (40, 3815),
        (41, 15259),
        (250, 15259),
        (500, 30518),
        (600, 61036),
        (5000, 244141),
        (5001, None),
    ],
)
def test_memory_needed_reads_odms_table_in_decimal_gb(images, mib):
    assert memory_needed_mib(images) == mib


@pytest.mark.parametrize(
    ("reason", "images", "memory_mib", "exit_code", "failed_in"),
    [
        ("enough memory succeeds", 30, 4096, 0, None),
        ("exactly the table's row succeeds", 250, 16384, 0, None),
        ("an unknown memory limit succeeds", 30, None, 0, None),
        ("half the need or more fails in openmvs", 600, 32768, OOM_EXIT_CODE, "openmvs"),
        ("less than half the need fails in opensfm", 600, 16384, OOM_EXIT_CODE, "opensfm"),
        ("beyond the table never fits", 6000, 1 << 30, OOM_EXIT_CODE, "opensfm"),
    ],
)
def test_odm_exits_137_partway_when_memory_is_below_the_table(
    reason, images, memory_mib, exit_code, failed_in
):
    run = plan_odm_run(images, options("--dsm"), memory_mib, duration_s=1000.0)

    assert run.exit_code == exit_code, reason
    messages = [line.message for line in run.lines]
    if failed_in is None:
        assert messages[-2] == odm_line("Finished odm_postprocess stage")
        assert run.duration_s == pytest.approx(1000.0)
    else:
        assert run.stages[-1].name == failed_in
        assert not run.stages[-1].finished
        assert odm_line(f"Running {failed_in} stage") in messages
        assert odm_line(f"Finished {failed_in} stage") not in messages
        assert "You ran out of memory!" in messages[-1]
        assert run.duration_s < 1000.0


def test_log_lines_are_spread_over_the_run_in_time_order():
    run = plan_odm_run(30, options("--dsm"), 16384, duration_s=600.0)

    times = [line.at for line in run.lines]
    assert times == sorted(times)
    finished_at = [line.at for line in run.lines if " Finished " in line.message]
    assert len(set(finished_at)) == len(finished_at)
    assert finished_at[-1] == pytest.approx(600.0)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {"odm_orthophoto/odm_orthophoto.tif", "odm_georeferencing/odm_georeferenced_model.laz",
              "odm_texturing/odm_textured_model_geo.obj", "odm_report/report.pdf"}),
        (["--dsm", "--dtm"], {"odm_orthophoto/odm_orthophoto.tif", "odm_dem/dsm.tif", "odm_dem/dtm.tif",
                              "odm_georeferencing/odm_georeferenced_model.laz",
                              "odm_texturing/odm_textured_model_geo.obj", "odm_report/report.pdf"}),
        (["--pc-las", "--pc-copc", "--skip-report", "--skip-3dmodel"],
         {"odm_orthophoto/odm_orthophoto.tif", "odm_georeferencing/odm_georeferenced_model.laz",
          "odm_georeferencing/odm_georeferenced_model.las", "odm_georeferencing/odm_georeferenced_model.copc.laz"}),
    ],
)  # fmt: skip
def test_products_follow_the_options(args, expected):
    assert set(products_for(options(*args))) == expected


def test_log_json_says_whether_odm_succeeded():
    failed = plan_odm_run(600, options(), 16384, duration_s=100.0)

    doc = json.loads(log_json(failed, options(), 600, 16384, lambda offset: f"t+{offset:.0f}"))

    assert doc["success"] is False
    assert doc["error"]["code"] == OOM_EXIT_CODE
    assert doc["images"] == 600
    assert doc["stages"][0]["name"] == "dataset"
