"""The simulated ODM's distributed split-merge is as strict as ODM 3.6.0 (stages/splitmerge.py, opendm/config.py,
opendm/remote.py, opendm/osfm.py): what starts it, what a dead cluster does, the options a submodel gets, the
submodel runs' own stops and files, and seed.zip at stage-in (zip-slip refused)."""

from __future__ import annotations

import io
import socket
import threading
import zipfile

import pytest

from odm_sandbox.aws import odm_lre, odm_remote
from odm_sandbox.aws.clock import SimClock
from odm_sandbox.aws.odm_run import Dataset, plan_odm_run
from odm_sandbox.aws.staging import _seed_members

BASE = ["--project-path", "/data", "project", "--max-concurrency", "4"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once closed


def test_sm_cluster_without_a_split_dataset_runs_locally_as_odm_does():
    # ODM accepts --sm-cluster without --split; the split stage finds a normal dataset and never calls the node.
    plan = plan_odm_run([*BASE, "--sm-cluster", "http://127.0.0.1:1"], Dataset(30), 16384, 1000.0)
    assert plan.succeeded and plan.submodels == 0 and not odm_remote.distributed(plan)
    assert any("Normal dataset, will process all at once." in line.message for line in plan.lines)


def test_a_cluster_that_does_not_answer_ends_odm_with_exit_1_before_any_stage():
    argv = [*BASE, "--split", "10", "--sm-cluster", f"http://127.0.0.1:{_closed_port()}/?token=x"]
    plan = plan_odm_run(argv, Dataset(30), 16384, 1000.0)
    assert odm_remote.distributed(plan)
    lines, ended = [], threading.Event()
    result = {}

    def finish(run):
        result["run"] = run
        ended.set()

    executor = odm_remote.RemoteSplitMerge(
        plan,
        tuple(f"IMG_{i}.JPG" for i in range(30)),
        SimClock(1000.0),
        0.0,
        lines.extend,
        finish,
        False,
        10.0,
    )
    executor.start()
    assert ended.wait(60)
    assert result["run"].exit_code == 1 and result["run"].files == ()
    assert any("[ERROR]   Cluster node seems to be offline" in line for line in lines)
    assert not any("Running dataset stage" in line for line in lines)


def test_a_submodel_gets_the_set_options_minus_the_split_ones_plus_odms_own():
    argv = [*BASE, "--split", "10", "--split-overlap", "50", "--dsm", "--crop", "0", "--pc-las", "--tiles",
            "--sm-cluster", "http://odm-gateway:3000/?token=x"]  # fmt: skip
    options = odm_lre.submodel_options(plan_odm_run(argv, Dataset(30), 16384, 1000.0))
    assert options == {"crop": "0.015625", "dsm": True, "max-concurrency": "3", "orthophoto-cutline": True,
                       "dem-euclidean-map": True, "skip-3dmodel": True, "skip-report": True}  # fmt: skip


def _seed(*names: str) -> tuple[str, ...]:
    return names


def test_a_reconstruction_pass_stops_after_opensfm_and_leaves_opensfms_files():
    dataset = Dataset(
        5, (), _seed("opensfm/camera_models.json", "opensfm/split_merge_stop_at_reconstruction.txt")
    )
    plan = plan_odm_run(BASE, dataset, 16384, 1000.0)
    stages = [line.message for line in plan.lines if line.message.endswith(" stage")]
    assert stages[-1].endswith("Finished opensfm stage")
    assert any("Stopping OpenSfM early because we found" in line.message for line in plan.lines)
    assert {"opensfm/reconstruction.json", "opensfm/tracks.csv", "cameras.json"} <= set(plan.files)
    assert not any(f.startswith("odm_orthophoto/") for f in plan.files)


def test_a_toolchain_pass_is_a_submodel_run_with_the_cutline_rasters():
    dataset = Dataset(5, (), _seed("opensfm/reconstruction.json", "opensfm/features/empty"))
    sub = plan_odm_run([*BASE, "--orthophoto-cutline"], dataset, 16384, 1000.0)
    plain = plan_odm_run([*BASE, "--orthophoto-cutline"], Dataset(5), 16384, 1000.0)
    cut = {"odm_orthophoto/odm_orthophoto_cut.tif", "odm_orthophoto/odm_orthophoto_feathered.tif"}
    assert cut <= set(sub.files) and not cut & set(
        plain.files
    )  # stages/odm_orthophoto.py: submodel runs only


def _zip(*members: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in members:
            archive.writestr(name, b"")
    return buffer.getvalue()


@pytest.mark.parametrize("member", ["../x", "/etc/cron.d/x", "opensfm/../../x"])
def test_stage_in_refuses_a_seed_member_outside_the_project(member):
    members, problem = _seed_members(_zip("opensfm/ok", member))
    assert members == [] and "would be written outside the project" in (problem or "")


def test_stage_in_lists_a_good_seeds_files():
    assert _seed_members(_zip("opensfm/a.json", "opensfm/features/empty")) == (
        ["opensfm/a.json", "opensfm/features/empty"],
        None,
    )


def test_odm_asks_a_set_cluster_even_when_nothing_will_be_split():
    # opendm/config.py checks --sm-cluster while parsing, whatever the dataset: a dead node is exit 1 anyway.
    argv = [*BASE, "--split", "400", "--sm-cluster", f"http://127.0.0.1:{_closed_port()}/?token=x"]
    plan = plan_odm_run(argv, Dataset(30), 16384, 1000.0)
    assert odm_remote.asks_cluster(plan) and not odm_remote.distributed(plan)
    assert (odm_remote.cluster_problem(plan) or "").startswith("Cluster node seems to be offline")
    ended = odm_remote.offline(plan)
    assert ended.exit_code == 1 and ended.files == ()
