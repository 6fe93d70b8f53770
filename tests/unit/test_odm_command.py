"""What the containers run: ODM's argv (--max-concurrency = the task's vCPUs), its environment, and the stage-in and
stage-out scripts, the latter run for real in sh with a stand-in ``aws`` that records what it was asked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from odm_operator import contract
from odm_operator.api.types import ODMJobSpec
from odm_operator.plan.desired import JobRef, overrides, resolve_size, task_definition
from odm_operator.plan.odm_command import ALL_ZIP_PATHS, RESULT_PATHS, STAGE_IN_SCRIPT, STAGE_OUT_SCRIPT
from odm_operator.settings import Settings

JOB = JobRef("ns", "job", "uid-1")


def spec(**extra) -> ODMJobSpec:
    body = {"input": {"s3Uri": "s3://in/x/"}, "output": {"s3Uri": "s3://out/y/"}, **extra}
    return ODMJobSpec.model_validate(body)


def odm_override(s: ODMJobSpec) -> dict:
    size = resolve_size(s, 30)
    return next(c for c in overrides(s, JOB, size)["containerOverrides"] if c["name"] == contract.ODM)


@pytest.mark.parametrize(
    ("extra", "expected", "reason"),
    [
        ({"resources": {"cpu": 16, "memory": "64Gi"}}, "16", "the task's vCPUs, not the host's"),
        ({"resources": {"cpu": 8, "memory": "61Gi", "gpu": 1}}, "8", "GPU jobs too"),
        ({"resources": {"cpu": "500m", "memory": "2Gi"}}, "1", "at least one process"),
        ({}, "2", "derived from the dataset's sizing"),
        ({"odm": {"options": {"max-concurrency": 3}}, "resources": {"cpu": 16, "memory": "64Gi"}}, "3",
         "the job's own value wins"),
    ],
)  # fmt: skip
def test_odm_gets_max_concurrency_equal_to_the_tasks_vcpus_unless_the_job_sets_it(extra, expected, reason):
    command = odm_override(spec(**extra))["command"]
    assert command[:3] == ["--project-path", "/data", "project"]
    assert command.count("--max-concurrency") == 1, reason
    assert command[command.index("--max-concurrency") + 1] == expected, reason


def test_the_odm_container_has_no_ansiesc_so_cloudwatch_lines_are_plain():
    s = spec()
    td = task_definition(s, Settings(), resolve_size(s, 30))
    odm = next(c for c in td["containerDefinitions"] if c["name"] == contract.ODM)
    assert {"name": "no_ansiesc", "value": "1"} in odm["environment"]


def test_stage_out_names_every_result_odm_lists():
    odm_results = [
        "odm_georeferencing",
        "odm_orthophoto",
        "odm_dem",
        "odm_report",
        "odm_texturing",
        "entwine_pointcloud",
        "dsm_tiles",
        "dtm_tiles",
        "orthophoto_tiles",
        "3d_tiles",
        "images.json",
        "cameras.json",
        "log.json",
    ]  # fmt: skip  (ODM 3.6.0 opendm/utils.py)
    assert set(odm_results) <= set(RESULT_PATHS)
    for path in odm_results:
        assert f"--include '{path}/*'" in STAGE_OUT_SCRIPT or f"--include '{path}'" in STAGE_OUT_SCRIPT


def _project(root: Path, files: list[str], success: bool) -> Path:
    for f in files:
        (root / "project" / f).parent.mkdir(parents=True, exist_ok=True)
        (root / "project" / f).write_text("x")
    (root / "project" / "log.json").write_text('{\n    "success": %s\n}' % ("true" if success else "false"))
    return root


def _run(script: str, root: Path, env: dict[str, str]) -> list[str]:
    bin_dir = root / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text(f'#!/bin/sh\necho "$@" >> {root}/aws.calls\n')
    aws.chmod(0o755)
    (bin_dir / "python3").symlink_to(sys.executable)
    body = script.replace("/data", str(root))
    shell = shutil.which("sh")
    assert shell
    result = subprocess.run(
        [shell, "-c", body], env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    calls = root / "aws.calls"
    return calls.read_text().splitlines() if calls.exists() else []


FILES = ["odm_orthophoto/odm_orthophoto.tif", "odm_dem/dsm.tif", "orthophoto_tiles/18/1/2.png", "cameras.json",
         "entwine_pointcloud/ept.json", "opensfm/reconstruction.json", "odm_texturing_25d/model.obj"]  # fmt: skip


def test_stage_out_builds_all_zip_in_nodeodms_layout_at_the_output_prefix(tmp_path):
    root = _project(tmp_path, FILES, success=True)

    calls = _run(STAGE_OUT_SCRIPT, root, {"ODM_OUTPUT_S3_URI": "s3://out/y/"})

    assert calls[-1] == f"s3 cp --only-show-errors {root}/all.zip s3://out/y/all.zip"
    names = set(zipfile.ZipFile(root / "all.zip").namelist())
    assert names == {"odm_orthophoto/odm_orthophoto.tif", "odm_dem/dsm.tif", "orthophoto_tiles/18/1/2.png",
                     "cameras.json", "entwine_pointcloud/ept.json", "log.json"}  # fmt: skip
    assert all(any(n == p or n.startswith(p + "/") for p in ALL_ZIP_PATHS) for n in names)


def test_stage_out_builds_no_all_zip_when_odm_failed_but_keeps_the_log(tmp_path):
    root = _project(tmp_path, FILES, success=False)

    calls = _run(STAGE_OUT_SCRIPT, root, {"ODM_OUTPUT_S3_URI": "s3://out/y"})

    assert len(calls) == 1 and calls[0].startswith("s3 cp --recursive")
    assert not (root / "all.zip").exists()


@pytest.mark.parametrize(
    ("names", "count"),
    [
        (["a.JPG", "b.nef", "c.bmp", "d.jxl", "e.raw", "f.mp4"], 6),
        (["a.jpg", "a_mask.jpg", "notes.txt"], 1),
    ],
)
def test_stage_in_counts_what_odm_takes_and_not_masks(tmp_path, names, count):
    images = tmp_path / "project" / "images"
    images.mkdir(parents=True)
    for name in names:
        (images / name).write_text("x")
    script = STAGE_IN_SCRIPT.replace("/data", str(tmp_path))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "aws").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "ODM_INPUT_S3_URI": "s3://in/x/"}
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"staged {count} images" in result.stdout
    assert contract.is_odm_input("x/a_mask.JPG") is False
    assert sum(contract.is_odm_input(n) for n in names) == count
