"""Distributed split-merge: the API field and its rules, the --sm-cluster ODM gets (with a per-job token the
gateway can verify), all.zip's contents from spec.output.archivePaths, and seed.zip unpacked by stage-in (run for
real in sh, with a stand-in ``aws``), zip-slip refused."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pyodm import Node

from odm_operator import contract
from odm_operator.api.types import ODMJobSpec
from odm_operator.api.validation import check_spec
from odm_operator.plan import split_merge
from odm_operator.plan.desired import JobRef, overrides, resolve_size, run_task
from odm_operator.plan.odm_command import STAGE_IN_SCRIPT, STAGE_OUT_SCRIPT
from odm_operator.plan.settings_check import check_settings, problems_for
from odm_operator.settings import Settings

JOB = JobRef("team-a", "big.survey", "uid-1")
SECRET = "gateway-token-0123456789"
BASE = {"input": {"s3Uri": "s3://in-bucket/x/"}, "output": {"s3Uri": "s3://out-bucket/y/"}}
DISTRIBUTED = {**BASE, "odm": {"options": {"split": 100}, "splitMerge": {"distributed": True}}}


def container(request: dict, name: str) -> dict:
    return next(c for c in request["overrides"]["containerOverrides"] if c["name"] == name)


def settings(**extra) -> Settings:
    return Settings(subnets=["subnet-0123456789abcdef0"], security_groups=["sg-0123456789abcdef0"],
                    execution_role_arn="arn:aws:iam::111122223333:role/exec", **extra)  # fmt: skip


def test_distributed_without_split_is_refused_naming_the_field_and_the_fix():
    errors = check_spec({**BASE, "odm": {"splitMerge": {"distributed": True}}})
    assert [e.path for e in errors] == ["spec.odm.splitMerge.distributed"]
    assert "spec.odm.options.split" in errors[0].message and "distributed: false" in errors[0].message
    assert check_spec(DISTRIBUTED) == []
    assert check_spec({**BASE, "odm": {"options": {"sm-cluster": "http://x:3000"}}})[0].path == (
        "spec.odm.options.sm-cluster"
    )


def test_a_distributed_job_gets_sm_cluster_with_its_own_token_never_the_gateways():
    s = settings(split_merge_url="http://odm-gateway.internal:3000", split_merge_token=SECRET)
    spec = ODMJobSpec.model_validate(DISTRIBUTED)
    request = run_task(spec, s, JOB, 1, "family", _fargate(), resolve_size(spec, 300))
    command = container(request, contract.ODM)["command"]
    url = command[command.index("--sm-cluster") + 1]
    assert SECRET not in str(request)
    node = Node.from_url(url)  # what ODM does with it (opendm/remote.py)
    assert (node.host, node.port) == ("odm-gateway.internal", 3000)
    assert split_merge.token_parent(SECRET, node.token) == ("team-a", "big.survey")
    assert split_merge.token_parent("another-gateway-token", node.token) is None
    tampered = node.token.replace("team-a", "team-b")
    assert split_merge.token_parent(SECRET, tampered) is None


def test_jobs_without_distributed_get_no_sm_cluster():
    s = settings(split_merge_url="http://odm-gateway:3000", split_merge_token=SECRET)
    spec = ODMJobSpec.model_validate({**BASE, "odm": {"options": {"split": 100}}})
    request = run_task(spec, s, JOB, 1, "family", _fargate(), resolve_size(spec, 300))
    assert "--sm-cluster" not in container(request, contract.ODM)["command"]


def test_a_distributed_job_without_the_gateway_settings_fails_naming_them():
    spec = ODMJobSpec.model_validate({**DISTRIBUTED, "capacity": {"type": "fargate"}})
    plain = ODMJobSpec.model_validate({**BASE, "capacity": {"type": "fargate"}})
    s = settings()
    problems = problems_for(spec, s, check_settings(s))
    assert {p.setting for p in problems} == {"split_merge_url", "split_merge_token"}
    assert "ODM_OPERATOR_SPLIT_MERGE_URL" in str(problems[0]) + str(problems[1])
    assert problems_for(plain, s, check_settings(s)) == []


@pytest.mark.parametrize(
    "url",
    [
        "odm-gateway:3000",
        "http://gw.x:3000/nodeodm",
        "http://gw.x:3000/?token=x",
        "https://gw.x:8443",
        "ftp://gw.x",
        "http://gw:3000",
        "http://odm_gw:3000",
    ],  # fmt: skip
)
def test_task_facing_urls_pyodm_or_odm_would_mangle_are_refused(url):
    s = settings(split_merge_url=url, split_merge_token=SECRET)
    assert [p.setting for p in check_settings(s) if p.setting.startswith("split_merge")] == [
        "split_merge_url"
    ]


@pytest.mark.parametrize(
    "url",
    ["http://odm-gateway:3000", "http://10.0.0.7:3000", "https://odm.example.com", "http://localhost:3000"],
)
def test_task_facing_urls_odm_takes_are_accepted(url):
    assert [p for p in check_settings(settings(split_merge_url=url, split_merge_token=SECRET))] == []


def _fargate():
    from odm_operator.plan.desired import DesiredCapacity

    return DesiredCapacity(
        "fargate", "odm", [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}], "FARGATE"
    )


def test_archive_paths_reach_stage_out_and_all_zip_holds_exactly_them(tmp_path):
    spec = ODMJobSpec.model_validate({**BASE, "output": {"s3Uri": "s3://out-bucket/y/", "archivePaths":
                                      ["opensfm/reconstruction.json", "opensfm/features", "cameras.json"]}})  # fmt: skip
    env = {e["name"]: e["value"] for e in container({"overrides": overrides(spec, JOB, resolve_size(spec, 30))}, contract.STAGE_OUT)["environment"]}  # fmt: skip
    assert env["ODM_ARCHIVE_PATHS"] == "opensfm/reconstruction.json opensfm/features cameras.json"
    project = tmp_path / "project"
    for name in ("opensfm/reconstruction.json", "opensfm/features/a.npz", "opensfm/tracks.csv",
                 "odm_orthophoto/odm_orthophoto.tif"):  # fmt: skip
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    (project / "log.json").write_text('{"success": true}')
    _sh(STAGE_OUT_SCRIPT, tmp_path, {"ODM_OUTPUT_S3_URI": "s3://out/y/", **env})
    names = set(zipfile.ZipFile(tmp_path / "all.zip").namelist())
    assert names == {"opensfm/reconstruction.json", "opensfm/features/a.npz"}  # cameras.json missing: skipped


def _seed(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def test_stage_in_unpacks_seed_zip_into_the_project_as_nodeodm_does(tmp_path):
    images = tmp_path / "project" / "images"
    images.mkdir(parents=True)
    (images / "a.jpg").write_text("x")
    (images / "seed.zip").write_bytes(_seed({"opensfm/exif/a.jpg.exif": b"{}", "opensfm/split_merge_stop_at_reconstruction.txt": b""}))  # fmt: skip
    out = _sh(STAGE_IN_SCRIPT, tmp_path, {"ODM_INPUT_S3_URI": "s3://in/x/"})
    assert (tmp_path / "project/opensfm/exif/a.jpg.exif").read_text() == "{}"
    assert (tmp_path / "project/opensfm/split_merge_stop_at_reconstruction.txt").exists()
    assert not (images / "seed.zip").exists() and "staged 1 images" in out


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "opensfm/../../evil.txt"])
def test_stage_in_refuses_a_seed_zip_member_outside_the_project_and_writes_nothing(tmp_path, member):
    images = tmp_path / "project" / "images"
    images.mkdir(parents=True)
    (images / "a.jpg").write_text("x")
    (images / "seed.zip").write_bytes(_seed({"opensfm/ok.txt": b"1", member: b"boom"}))
    result = _sh(STAGE_IN_SCRIPT, tmp_path, {"ODM_INPUT_S3_URI": "s3://in/x/"}, expect=1)
    assert "would be written outside the project" in result
    assert not (tmp_path / "project/opensfm").exists() and not (tmp_path / "evil.txt").exists()


def _sh(script: str, root: Path, env: dict[str, str], expect: int = 0) -> str:
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "aws").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "aws").chmod(0o755)
    if not (bin_dir / "python3").exists():
        (bin_dir / "python3").symlink_to(sys.executable)
    path = f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    result = subprocess.run(["sh", "-c", script.replace("/data", str(root))], env={"PATH": path, **env},
                            capture_output=True, text=True, cwd=root)  # fmt: skip
    assert result.returncode == expect, result.stderr
    return result.stdout + result.stderr
