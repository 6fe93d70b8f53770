"""Progress follows ODM's stage lines and milestones, never goes backwards, and shows staging as stages."""

import pytest

from odm_operator.plan.progress import Progress, advance, from_containers


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["[INFO]    Running dataset stage"], Progress("dataset", 0)),
        (["[INFO]    Running dataset stage", "[INFO]    Finished dataset stage"], Progress("dataset", 5)),
        (["[INFO]    Running opensfm stage"], Progress("opensfm", 5)),
        (["[INFO]    Finished opensfm stage", "[INFO]    Running openmvs stage"], Progress("openmvs", 25)),
        (["[INFO]    Finished openmvs stage"], Progress("openmvs", 50)),
        (["[INFO]    Running odm_filterpoints stage"], Progress("odm_filterpoints", 50)),
        (["[INFO]    Finished odm_report stage"], Progress("odm_report", 99)),
        (["[INFO]    Finished odm_postprocess stage"], Progress("odm_postprocess", 100)),
        (["unrelated line", "Running nonsense stage"], None),
    ],
)
def test_stage_lines_map_to_odms_milestones(lines, expected):
    assert advance(None, lines) == expected


def test_progress_never_goes_backwards():
    late = Progress("odm_dem", 90)
    assert advance(late, ["[INFO]    Finished opensfm stage"]) == late


def test_stage_in_and_stage_out_are_stages_of_their_own():
    assert from_containers(None, {"stage-in": "RUNNING"}, {}) == Progress("stage-in", 0)
    odm = Progress("odm_postprocess", 100)
    assert from_containers(odm, {"odm": "STOPPED", "stage-out": "RUNNING"}, {"odm": 0}) == Progress(
        "stage-out", 100
    )
    assert from_containers(odm, {"odm": "RUNNING"}, {}) == odm


PIPELINE = ["dataset", "split", "merge", "opensfm", "openmvs", "odm_filterpoints", "odm_meshing", "mvs_texturing",
            "odm_georeferencing", "odm_dem", "odm_orthophoto", "odm_report", "odm_postprocess"]  # fmt: skip


def _stage(name: str) -> list[str]:
    return [f"[INFO]    Running {name} stage", f"[INFO]    Finished {name} stage"]


def _submodel(k: int) -> list[str]:
    """A submodel's whole run, as ODM's split stage reprints it into the main log."""
    head = ["[INFO]    ========================", f"[INFO]    Processing submodel_{k:04d}",
            "[INFO]    ========================", "[INFO]    Initializing ODM 3.6.0 - Thu Dec  3 10:00:00 2026"]  # fmt: skip
    return head + [line for name in PIPELINE for line in _stage(name)]


def _split_run(submodels: int) -> list[str]:
    return [
        *_stage("dataset"),
        "[INFO]    Running split stage",
        "[INFO]    Large dataset detected (900 photos) and split set at 300. Preparing split merge.",
        f"[INFO]    Dataset has been split into {submodels} submodels. Reconstructing each submodel...",
        *[line for k in range(submodels) for line in _submodel(k)],
        "[INFO]    Finished split stage",
        *_stage("merge"),
        *_stage("odm_postprocess"),
    ]


def test_a_split_run_never_shows_100_before_the_main_runs_last_stage():
    lines = _split_run(3)
    seen = []
    progress = None
    for line in lines:
        progress = advance(progress, [line])
        seen.append(progress.percent if progress else 0)
    assert seen == sorted(seen), "never backwards"
    assert seen[-1] == 100
    assert 100 not in seen[:-1], "a submodel's odm_postprocess is not the end"
    assert max(seen[: lines.index("[INFO]    Finished split stage")]) < 75


@pytest.mark.parametrize(
    ("submodels_done", "low", "high", "reason"),
    [
        (0, 22, 22, "clustered, no submodel yet"),
        (1, 50, 52, "one of three submodels is a sixth of the split stage"),
        (2, 62, 64, "two of three"),
    ],
)
def test_each_submodel_is_an_equal_share_of_the_split_stage(submodels_done, low, high, reason):
    lines = _split_run(3)
    cut = lines.index(f"[INFO]    Processing submodel_{submodels_done:04d}")
    progress = advance(None, lines[:cut])
    assert low <= progress.percent <= high, reason
    assert progress.stage == "split"


def test_during_a_submodel_the_stage_names_it():
    lines = _split_run(2)
    cut = lines.index("[INFO]    Processing submodel_0001") + 8
    assert advance(None, lines[:cut]).stage.startswith("split: submodel 2/2 ")


def test_an_unsplit_runs_split_and_merge_stages_keep_odms_milestones():
    lines = [*_stage("dataset"), "[INFO]    Running split stage", "[INFO]    Normal dataset, will process all at once.",
             "[INFO]    Finished split stage", *_stage("merge"), "[INFO]    Running opensfm stage"]  # fmt: skip
    assert advance(None, lines) == Progress("opensfm", 5)
    assert advance(None, [line for name in PIPELINE for line in _stage(name)]) == Progress(
        "odm_postprocess", 100
    )


def test_ansi_coloured_lines_are_read_too():
    assert advance(None, ["\033[39m[INFO]    Finished opensfm stage\033[0m"]) == Progress("opensfm", 25)


def test_a_full_disk_in_the_log_is_remembered_for_the_outcome():
    progress = advance(Progress("openmvs", 25), ["OSError: [Errno 28] No space left on device"])
    assert progress.hint == "disk-full"
    assert progress.percent == 25
