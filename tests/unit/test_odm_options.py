"""ODM options are checked by name and type, refused when they redirect I/O, and become argv without a shell."""

import pytest

from odm_operator.api.odm_options import OPTIONS, RESERVED, check_options, to_args

REQUIRED_BY_ISSUE = [
    "dsm",
    "dtm",
    "fast-orthophoto",
    "cog",
    "skip-report",
    "skip-3dmodel",
    "optimize-disk-space",
    "orthophoto-resolution",
    "dem-resolution",
    "feature-quality",
    "pc-quality",
    "feature-type",
    "split",
    "split-overlap",
    "max-concurrency",
    "min-num-features",
    "matcher-neighbors",
    "use-3dmesh",
    "pc-las",
    "pc-ept",
    "pc-copc",
    "auto-boundary",
    "end-with",
    "rerun-from",
    "radiometric-calibration",
]


def test_the_table_holds_every_option_users_ask_for():
    missing = [name for name in REQUIRED_BY_ISSUE if name not in OPTIONS]
    assert missing == []


@pytest.mark.parametrize(
    "options",
    [
        {"dsm": True, "dtm": False},
        {"orthophoto-resolution": 2, "dem-resolution": 2.5},
        {"feature-quality": "ultra", "pc-quality": "lowest", "feature-type": "sift"},
        {"split": 400, "split-overlap": 100, "max-concurrency": 8},
        {"end-with": "odm_orthophoto", "rerun-from": "openmvs", "radiometric-calibration": "camera+sun"},
        {"min-num-features": 12000, "matcher-neighbors": 0, "use-3dmesh": True},
        {"primary-band": "NIR"},
        {},
    ],
)
def test_valid_options_pass(options):
    assert check_options(options) == []


@pytest.mark.parametrize(
    ("options", "name", "fragment", "reason"),
    [
        ({"dsmm": True}, "dsmm", "did you mean 'dsm'", "typo gets close names"),
        ({"orthophoto-res": 2}, "orthophoto-res", "did you mean 'orthophoto-resolution'", "prefix typo"),
        ({"zzz": 1}, "zzz", "unknown ODM option 'zzz'", "unknown without a close name"),
        ({"--dsm": True}, "--dsm", "without dashes", "leading dashes"),
        ({"dsm": "yes"}, "dsm", "is a flag", "flag given a string"),
        ({"dsm": 1}, "dsm", "is a flag", "flag given an int"),
        ({"split": 2.5}, "split", "takes an integer", "int given a fraction"),
        ({"split": True}, "split", "takes an integer", "int given a bool"),
        ({"split": 0}, "split", "must be >= 1", "below minimum"),
        ({"mesh-octree-depth": 15}, "mesh-octree-depth", "must be <= 14", "above maximum"),
        ({"orthophoto-resolution": "2"}, "orthophoto-resolution", "takes a number", "number given a string"),
        (
            {"feature-quality": "best"},
            "feature-quality",
            "ultra, high, medium, low, lowest",
            "choice lists values",
        ),
        ({"end-with": "odm_foo"}, "end-with", "must be one of", "stage names only"),
        ({"project-path": "/tmp"}, "project-path", "set by the operator", "reserved option"),
        ({"copy-to": "/mnt"}, "copy-to", "spec.output.s3Uri", "I/O redirect refused"),
        ({"gcp": "../../etc/passwd"}, "gcp", "gcp_list.txt in the input prefix", "file paths refused"),
        ({"primary-band": "a; rm -rf /"}, "primary-band", "short name", "injection in a string option"),
        ({"feature-type": "sift --copy-to /x"}, "feature-type", "must be one of", "injection in a choice"),
    ],
)
def test_bad_options_name_the_option_and_what_is_allowed(options, name, fragment, reason):
    errors = check_options(options)
    assert [e.name for e in errors] == [name], reason
    assert fragment in errors[0].message, reason


def test_all_bad_options_are_reported_at_once():
    errors = check_options({"dsmm": True, "split": 0, "project-path": "/x", "dsm": True})
    assert sorted(e.name for e in errors) == ["dsmm", "project-path", "split"]


def test_options_that_are_not_a_map_are_refused():
    assert check_options(["dsm"])[0].message.startswith("must be a map")


def test_reserved_options_are_not_also_allowed():
    assert set(RESERVED).isdisjoint(OPTIONS)


@pytest.mark.parametrize(
    ("options", "args"),
    [
        ({"dsm": True, "dtm": False}, ["--dsm"]),
        ({"split": 400.0, "orthophoto-resolution": 2}, ["--orthophoto-resolution", "2", "--split", "400"]),
        ({"feature-quality": "high", "cog": True}, ["--cog", "--feature-quality", "high"]),
    ],
)
def test_options_become_sorted_argv(options, args):
    assert to_args(options) == args
