"""The simulated ODM is as strict as ODM 3.6.0: its command line, stages, products, failures and log.json."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from odm_operator.plan.odm_command import STAGE_OUT_SCRIPT
from odm_operator.sandbox.aws import odm_memory, odm_products
from odm_operator.sandbox.aws.odm_log import log_json, odm_line
from odm_operator.sandbox.aws.odm_run import (
    DISK_FULL,
    OOM_EXIT_CODE,
    Dataset,
    Failure,
    plan_odm_run,
)

BASE = ["--project-path", "/data", "project"]


def run(*args: str, images: int = 30, memory: int | None = 16384, **kw):
    return plan_odm_run([*BASE, *args], Dataset(images, kw.pop("aux", ())), memory, 1000.0, **kw)


def stage_lines(result) -> list[str]:
    return [line.message.split("    ", 1)[1] for line in result.lines if " stage" in line.message[-6:]]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dsm", "true"], "unrecognized arguments: true"),
        (["--dsm=1"], "argument --dsm: ignored explicit argument '1'"),
        (["--rerun", "opensfm", "--rerun-from", "dataset"], "argument --rerun-from: not allowed with argument --rerun/-r"),
        (["--crop", "abc"], "argument --crop: invalid float value: 'abc'"),
        (["--split", "2.5"], "argument --split: invalid int value: '2.5'"),
        (["--end-with", "odm_foo"], "argument --end-with/-e: invalid choice: 'odm_foo'"),
        (["--cameras", "/etc/cameras.json"], "argument --cameras: /etc/cameras.json is not a valid JSON file"),
        (["--sm-cluster", "not a url"], "argument --sm-cluster: not a url is not a valid URL"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
    ],
)  # fmt: skip
def test_a_bad_command_line_exits_2_with_argparses_message(args, fragment):
    result = run(*args)

    assert result.exit_code == 2
    text = "\n".join(line.message for line in result.lines)
    assert text.startswith("usage: run.sh [options] <dataset name>")
    assert f"run.py: error: {fragment}" in text
    assert result.files == ()


def test_a_deprecated_option_only_warns():
    result = run("--time")

    assert result.exit_code == 0
    assert odm_line("--time is no longer a valid argument and will be ignored!", "WARNING") in [
        line.message for line in result.lines
    ]


UNSPLIT = ["dataset", "split", "merge", "opensfm", "openmvs", "odm_filterpoints", "odm_meshing",
           "mvs_texturing", "odm_georeferencing", "odm_dem", "odm_orthophoto", "odm_report", "odm_postprocess"]  # fmt: skip


def _marks(stages: list[str]) -> list[str]:
    return [f"{verb} {s} stage" for s in stages for verb in ("Running", "Finished")]


@pytest.mark.parametrize(
    ("reason", "args", "stages"),
    [
        ("split, merge and odm_dem always run", [], UNSPLIT),
        ("fast-orthophoto leaves openmvs out of the pipeline", ["--fast-orthophoto"], [s for s in UNSPLIT if s != "openmvs"]),
        ("end-with stops after its stage", ["--end-with", "opensfm"], UNSPLIT[:4]),
        ("rerun stops after its stage", ["--rerun", "odm_dem"], UNSPLIT[:10]),
        ("rerun-from on a fresh volume runs everything", ["--rerun-from", "openmvs"], UNSPLIT),
        ("end-with a stage fast-orthophoto skips stops nothing", ["--fast-orthophoto", "--end-with", "openmvs"],
         [s for s in UNSPLIT if s != "openmvs"]),
    ],
)  # fmt: skip
def test_stage_lines_follow_the_options(reason, args, stages):
    assert stage_lines(run(*args)) == _marks(stages), reason


def test_a_split_run_prints_each_submodels_whole_log_inside_the_split_stage():
    result = run("--split", "10", "--dsm", images=30)

    lines = stage_lines(result)
    assert lines[:3] == ["Running dataset stage", "Finished dataset stage", "Running split stage"]
    assert lines[-5:] == ["Finished split stage", "Running merge stage", "Finished merge stage",
                          "Running odm_postprocess stage", "Finished odm_postprocess stage"]  # fmt: skip
    assert lines.count("Finished odm_postprocess stage") == 1 + result.submodels == 4
    assert "Running opensfm stage" not in lines[-5:]


@pytest.mark.parametrize(
    ("reason", "args", "present", "absent"),
    [
        ("defaults", [], {"odm_orthophoto/odm_orthophoto.tif", "odm_texturing/odm_textured_model_geo.obj",
                          "odm_report/report.pdf", "cameras.json", "images.json"}, {"odm_dem/dsm.tif"}),
        ("dsm and dtm", ["--dsm", "--dtm"], {"odm_dem/dsm.tif", "odm_dem/dtm.tif"}, set()),
        ("dtm with a euclidean map also writes the DSM", ["--dtm", "--dem-euclidean-map"],
         {"odm_dem/dsm.tif", "odm_dem/dtm.euclideand.tif"}, set()),
        ("fast-orthophoto has no textured model", ["--fast-orthophoto"], {"odm_orthophoto/odm_orthophoto.tif"},
         {"odm_texturing/odm_textured_model_geo.obj"}),
        ("use-3dmesh cancels skip-3dmodel", ["--skip-3dmodel", "--use-3dmesh"],
         {"odm_texturing/odm_textured_model_geo.obj"}, set()),
        ("end-with opensfm writes no orthophoto", ["--end-with", "opensfm"], {"cameras.json"},
         {"odm_orthophoto/odm_orthophoto.tif", "odm_georeferencing/odm_georeferenced_model.laz"}),
        ("tiles and 3d tiles", ["--tiles", "--dsm", "--3d-tiles"],
         {"orthophoto_tiles/tilemapresource.xml", "dsm_tiles/tilemapresource.xml", "3d_tiles/model/tileset.json"},
         {"dtm_tiles/tilemapresource.xml"}),
        ("split runs have no textured model or report", ["--split", "10"], {"odm_orthophoto/odm_orthophoto.tif"},
         {"odm_texturing/odm_textured_model_geo.obj", "odm_report/report.pdf"}),
        ("image_groups.txt splits whatever --split says", ["--pc-ept"], {"entwine_pointcloud/ept.json"}, set()),
    ],
)  # fmt: skip
def test_products_are_only_what_the_options_produce(reason, args, present, absent):
    aux = ("image_groups.txt",) if "image_groups" in reason else ()
    result = run(*args, aux=aux)

    assert result.exit_code == 0, reason
    assert present <= set(result.files), reason
    assert not absent & set(result.files), reason
    if aux:
        assert result.submodels >= 2


@pytest.mark.parametrize("code", [1, 2, 3, 132, 134, 137, 139])
def test_an_injected_failure_exits_with_its_code_and_odms_message(code):
    result = run(failure=Failure(code, "opensfm"))

    assert result.exit_code == code
    messages = [line.message for line in result.lines]
    assert f"Child returned {code}" in messages
    assert messages[-11:-9] == [odm_line("Running opensfm stage"), ""]
    assert odm_line("Finished opensfm stage") not in messages
    assert result.files == ()
    doc = json.loads(log_json(result, str))
    assert doc["success"] is False and doc["error"] == {"code": code, "message": f"Child returned {code}"}


def test_a_full_disk_is_an_oserror_and_exit_1():
    result = run(failure=Failure(DISK_FULL))

    assert result.exit_code == 1
    assert result.lines[-1].message == "OSError: [Errno 28] No space left on device"


@pytest.mark.parametrize(
    ("reason", "images", "memory", "args", "cpus", "oom"),
    [
        ("the docs' row fits", 250, odm_memory.needed_mib(250, None), [], None, False),
        ("below the docs' row", 250, 8192, [], None, True),
        ("a host's 64 CPUs need 64 GB", 30, 16384, [], 64, True),
        ("max-concurrency keeps it to the task", 30, 16384, ["--max-concurrency", "2"], 64, False),
        ("a split run needs one submodel's memory", 6000, 40000, ["--split", "400"], None, False),
        ("above the docs' table the need keeps growing", 6000, 280000, [], None, True),
    ],
)  # fmt: skip
def test_memory_follows_odms_docs_and_its_concurrency(reason, images, memory, args, cpus, oom):
    result = run(*args, images=images, memory=memory, host_cpus=cpus)

    assert (result.exit_code == OOM_EXIT_CODE) is oom, reason
    if oom:
        assert "You ran out of memory!" in result.lines[-1].message


def test_lines_are_plain_only_with_no_ansiesc():
    assert run(ansi=True).lines[0].message.startswith("\033[39m[INFO]")
    assert run(ansi=False).lines[0].message.startswith("[INFO]    Initializing ODM 3.6.0")


def test_log_json_has_odms_layout():
    doc = json.loads(log_json(run("--dsm"), lambda offset: f"t+{offset:.0f}"))

    assert set(doc) == {"odmVersion", "memory", "cpus", "images", "options", "startTime", "stages",
                        "processes", "success", "endTime", "totalTime"}  # fmt: skip
    assert set(doc["memory"]) == {"total", "available"}
    assert doc["options"]["dsm"] is True and doc["success"] is True
    assert "endTime" in doc["stages"][-1] and "endTime" not in doc["stages"][0]


def test_stage_out_uploads_what_the_operators_script_includes_and_builds_nodeodms_all_zip():
    result = run("--tiles", "--pc-ept")
    project = dict.fromkeys(result.files, b"x") | {"log.json": log_json(result, str)}

    out = odm_products.stage_out_files(STAGE_OUT_SCRIPT, project, succeeded=True)

    assert "odm_texturing_25d/odm_textured_model_geo.obj" not in out  # not one of ODM's results
    assert "opensfm/reconstruction.json" not in out
    assert {"orthophoto_tiles/tilemapresource.xml", "entwine_pointcloud/ept.json", "cameras.json"} <= set(out)
    names = zipfile.ZipFile(io.BytesIO(out["all.zip"])).namelist()
    assert "odm_orthophoto/odm_orthophoto.tif" in names and "log.json" in names
    assert not [n for n in names if n.startswith(("opensfm/", "odm_texturing_25d/"))]
    assert "all.zip" not in odm_products.stage_out_files(STAGE_OUT_SCRIPT, project, succeeded=False)


def test_the_simulated_odm_shares_no_rule_with_the_operator():
    """Its option facts, memory model and product rules are its own: it imports nothing of the operator."""
    import ast
    from pathlib import Path

    from odm_operator.sandbox import aws

    for module in sorted(Path(aws.__file__).parent.glob("odm_*.py")):
        tree = ast.parse(module.read_text())
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m.startswith("odm_operator")}, module.name


def test_without_a_project_path_odm_exits_1_before_it_starts():
    result = plan_odm_run(["project"], Dataset(30), None, 10.0)
    assert result.exit_code == 1
    assert "use `--project-path <path>`" in result.lines[-1].message


def test_odms_own_option_rewrites_are_logged_and_applied():
    result = run("--fast-orthophoto", "--dtm")
    messages = [line.message for line in result.lines]
    assert odm_line("Fast orthophoto is turned on, automatically setting --skip-3dmodel") in messages
    assert odm_line("DTM is turned on, automatically turning on point cloud classification") in messages
    assert result.args.skip_3dmodel and result.args.pc_classify
