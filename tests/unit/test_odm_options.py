"""The option table is ODM 3.6.0's, option for option; values are checked as ODM's argparse would, and become argv.

Completeness is derived from the facts file the sandbox's ODM parses with (names, types and choices read from
OpenDroneMap/ODM opendm/config.py at the commit it records): every ODM option is accepted, reserved for the
operator with a reason, or deprecated, and an accepted option has ODM's kind and choices.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from odm_operator.api.odm_options import (
    DEPRECATED,
    EXCLUSIVE,
    ODM_COMMIT,
    ODM_VERSION,
    OPTIONS,
    RESERVED,
    check_options,
    to_args,
)
from odm_sandbox.aws import odm_cli

FACTS = json.loads(resources.files("odm_sandbox.aws").joinpath("odm_3.6.0_options.json").read_text())
ODM = {o["name"]: o for o in FACTS["options"]}
# The facts' types -> the table's kinds (a str option with choices is a choice).
KINDS = {"flag": "flag", "int": "int", "float": "float", "path_or_json": "json", "str": "string"}


def test_the_table_follows_the_odm_release_of_the_facts_file():
    assert (FACTS["version"], FACTS["commit"]) == (ODM_VERSION, ODM_COMMIT)


def test_every_odm_option_is_accepted_reserved_or_deprecated_and_nothing_else():
    table = set(OPTIONS) | (set(RESERVED) - {FACTS["positional"]["name"]})
    assert table == set(ODM), f"missing: {set(ODM) - table}; not ODM's: {table - set(ODM)}"
    assert set(OPTIONS).isdisjoint(RESERVED)
    assert tuple(DEPRECATED) == tuple(FACTS["deprecated"])
    assert set(DEPRECATED).isdisjoint(set(OPTIONS) | set(RESERVED))


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_each_accepted_option_has_odms_kind_and_choices(name):
    fact, option = ODM[name], OPTIONS[name]
    kind = "choice" if fact.get("choices") else KINDS[fact["type"]]
    assert option.kind == kind
    assert list(option.choices) == (fact.get("choices") or [])


def test_odms_exclusive_group_is_enforced():
    group = {o["name"] for o in FACTS["options"] if o.get("exclusiveGroup") == "rerun"}
    assert set(EXCLUSIVE[0]) == group


def _valid_values(name: str) -> list[object]:
    option = OPTIONS[name]
    default = ODM[name].get("default")
    if option.kind == "flag":
        return [True, False]
    if option.kind == "choice":
        return list(option.choices)
    if option.kind == "int":
        values = [default if isinstance(default, int) else 4, 1, int(option.maximum or 16)]
        return values if option.minimum is not None else [*values, 0]
    if option.kind == "float":
        base = [2.5, 12.5, 1]
        return base if option.above is not None else [*base, 0, -1.5 if name == "gps-z-offset" else 0.0]
    if option.kind == "json":
        return [{"type": "FeatureCollection", "features": []}, '{"a": 1}', [1, 2]]
    return ["NIR", "auto", "red_edge-1"]


@pytest.mark.parametrize(("name", "value"), [(n, v) for n in sorted(OPTIONS) for v in _valid_values(n)])
def test_valid_values_of_every_option_are_accepted_and_odms_parser_takes_the_argv(name, value):
    options = {name: value}

    assert check_options(options) == []
    parsed = odm_cli.parse(["--project-path", "/data", "project", *to_args(options)])
    assert parsed.project == "project"


def _wrong(name: str) -> tuple[object, str]:
    kind = OPTIONS[name].kind
    return {
        "flag": ("true", "is a flag"),
        "int": (2.5, "takes an integer"),
        "float": ("2", "takes a number"),
        "choice": ("nope", "must be one of"),
        "json": ("/etc/passwd", "takes inline JSON"),
        "string": ("-x --copy-to /", "short name"),
    }[kind]


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_a_wrong_type_for_every_option_is_refused_naming_it(name):
    value, fragment = _wrong(name)
    errors = check_options({name: value})
    assert [e.name for e in errors] == [name]
    assert fragment in errors[0].message


@pytest.mark.parametrize(
    ("options", "name", "fragment", "reason"),
    [
        ({"dsmm": True}, "dsmm", "did you mean 'dsm'", "typo gets close names"),
        ({"orthophoto-res": 2}, "orthophoto-res", "did you mean 'orthophoto-resolution'", "prefix typo"),
        ({"zzz": 1}, "zzz", "unknown ODM option 'zzz'", "unknown without a close name"),
        ({"--dsm": True}, "--dsm", "without dashes", "leading dashes"),
        ({"dsm": 1}, "dsm", "is a flag", "flag given an int"),
        ({"split": True}, "split", "takes an integer", "int given a bool"),
        ({"max-concurrency": 0}, "max-concurrency", "must be >= 1", "a run needs a process"),
        ({"orthophoto-resolution": 0}, "orthophoto-resolution", "must be > 0", "a resolution is positive"),
        ({"mesh-octree-depth": 15}, "mesh-octree-depth", "must be <= 14", "ODM clamps to 1..14"),
        ({"crop": float("nan")}, "crop", "finite number", "NaN"),
        ({"feature-quality": "best"}, "feature-quality", "ultra, high, medium, low, lowest", "choices listed"),
        ({"end-with": "odm_foo"}, "end-with", "must be one of", "stage names only"),
        ({"time": True}, "time", "deprecated", "ODM ignores --time"),
        ({"pc-geometric": True}, "pc-geometric", "deprecated", "another deprecated option"),
        ({"project-path": "/tmp"}, "project-path", "set by the operator", "operator-controlled"),
        ({"copy-to": "/mnt"}, "copy-to", "spec.output.s3Uri", "I/O redirect refused"),
        ({"gcp": "../../etc/passwd"}, "gcp", "reads a file", "file paths refused"),
        ({"split-image-groups": "groups.txt"}, "split-image-groups", "image_groups.txt", "file paths refused"),
        ({"sm-cluster": "http://x"}, "sm-cluster", "spec.capacity", "no external ClusterODM"),
        ({"version": True}, "version", "exits", "prints and exits"),
        ({"boundary": "{not json"}, "boundary", "not valid JSON", "inline JSON must parse"),
        ({"primary-band": "a; rm -rf /"}, "primary-band", "short name", "injection in a string option"),
        ({"feature-type": "sift --copy-to /x"}, "feature-type", "must be one of", "injection in a choice"),
        ({"rerun": "opensfm", "rerun-from": "dataset"}, "rerun-from", "cannot be combined", "ODM's exclusive group"),
    ],
)  # fmt: skip
def test_bad_options_name_the_option_and_what_is_allowed(options, name, fragment, reason):
    errors = check_options(options)
    assert [e.name for e in errors] == [name], reason
    assert fragment in errors[0].message, reason


def test_refusals_match_what_odms_own_parser_refuses():
    for options in ({"rerun": "opensfm", "rerun-from": "dataset"}, {"end-with": "odm_foo"}):
        assert check_options(options)
        with pytest.raises(odm_cli.OdmUsageError):
            odm_cli.parse(["--project-path", "/data", "project", *_raw_args(options)])


def _raw_args(options: dict[str, object]) -> list[str]:
    return [token for name, value in sorted(options.items()) for token in (f"--{name}", str(value))]


def test_all_bad_options_are_reported_at_once():
    errors = check_options({"dsmm": True, "max-concurrency": 0, "project-path": "/x", "dsm": True})
    assert sorted(e.name for e in errors) == ["dsmm", "max-concurrency", "project-path"]


def test_options_that_are_not_a_map_are_refused():
    assert check_options(["dsm"])[0].message.startswith("must be a map")


@pytest.mark.parametrize(
    ("options", "args"),
    [
        ({"dsm": True, "dtm": False}, ["--dsm"]),
        ({"split": 400.0, "orthophoto-resolution": 2}, ["--orthophoto-resolution", "2", "--split", "400"]),
        ({"rolling-shutter-readout": 12.5}, ["--rolling-shutter-readout", "12.5"]),
        ({"boundary": {"b": 1, "a": [1]}}, ["--boundary", '{"a":[1],"b":1}']),
        ({"feature-quality": "high", "cog": True}, ["--cog", "--feature-quality", "high"]),
    ],
)
def test_options_become_sorted_argv(options, args):
    assert to_args(options) == args
