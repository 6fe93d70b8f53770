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
