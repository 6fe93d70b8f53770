"""ODM's command line as ODM 3.6.0 parses it: the simulated ODM's own argparse parser, built from the facts file.

Real ODM (OpenDroneMap/ODM:opendm/config.py) builds an ``argparse`` parser, calls ``parse_known_args`` and then
``parser.error("unrecognized arguments: ...")`` for every leftover that is not in its DEPRECATED list, which
exits 2 after printing the usage line; deprecated ones only warn. So the sandbox uses argparse too, built from
``odm_3.6.0_options.json`` (option names, types and choices from ODM's source, with the commit they follow),
and gets ODM's exact behaviour: ``--dsm true`` leaves ``true`` over ("unrecognized arguments: true"),
``--rerun`` with ``--rerun-from`` is "not allowed with", a float option given ``abc`` is "invalid float value".
Then the rewrites ODM makes after parsing (end of ``config()``): fast-orthophoto sets skip-3dmodel, pc-rectify
and dtm set pc-classify, use-3dmesh cancels skip-3dmodel, orthophoto-cutline with crop 0 sets crop 0.01.

This never imports the operator's option table (api/odm_options.py): the operator is checked against it.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

FACTS_FILE = "odm_3.6.0_options.json"
# run.py is ODM's entrypoint (python3 /code/run.py), so argparse calls itself "run.py"; the usage is ODM's.
PROG = "run.py"
USAGE = "run.sh [options] <dataset name>"
USAGE_EXIT = 2  # argparse's exit status for a bad command line

# opendm/config.py url_string: Django's URL regex, as ODM uses it for --sm-cluster.
_URL = re.compile(
    r"^(?:http|ftp)s?://(?:(?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.?)+(?:[A-Z]{2,6}\.?|[A-Z0-9-]{2,}\.?)|"
    r"localhost|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::\d+)?(?:/?|[/?]\S+)$",
    re.IGNORECASE,
)


class OdmUsageError(Exception):
    """ODM refused its command line: what argparse printed to stderr; ODM exits 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = USAGE_EXIT


@lru_cache(maxsize=1)
def facts() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath(FACTS_FILE).read_text())


def _path_or_json(value: str) -> Any:
    """opendm/io.py path_or_json_string_to_dict: "" is {}, a value starting with [ or { is JSON, anything else a
    file that must exist. In a fresh task no such file exists outside the staged project (the operator refuses
    paths), so the sandbox treats every path as missing."""
    if value == "":
        return {}
    if value.startswith(("[", "{")):
        try:
            return json.loads(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value} is not a valid JSON string.") from None
    raise argparse.ArgumentTypeError(f"{value} is not a valid JSON file or string.")


def _url(value: str) -> str:
    if _URL.match(value) is None:
        raise argparse.ArgumentTypeError(
            f"{value} is not a valid URL. The URL must be in the format: http(s)://host[:port]/[?token=]"
        )
    return value


_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str, "path_or_json": _path_or_json, "url": _url}


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, with the message it would have printed."""

    def error(self, message: str) -> Any:  # noqa: D102 - argparse's hook
        out = io.StringIO()
        self.print_usage(out)
        raise OdmUsageError(f"{out.getvalue()}{self.prog}: error: {message}\n")

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # --help / --version
        raise OdmUsageError(message or "")


class _Mark(argparse.Action):
    """ODM's StoreValue/StoreTrue/RerunFrom also record ``<dest>_is_set``; the sandbox records the names set."""

    def __init__(self, *args: Any, flag: bool = False, **kwargs: Any) -> None:
        self.flag = flag
        super().__init__(*args, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        setattr(namespace, self.dest, True if self.flag else values)
        namespace.__dict__.setdefault("_set", set()).add(self.dest)


@lru_cache(maxsize=1)
def parser() -> argparse.ArgumentParser:
    data = facts()
    p = _Parser(prog=PROG, usage=USAGE)
    groups: dict[str, Any] = {}
    positional = data["positional"]
    p.add_argument(positional["name"], nargs=positional["nargs"], default=positional["default"], action=_Mark)
    for option in data["options"]:
        names = [f"--{option['name']}", *([option["alias"]] if "alias" in option else [])]
        target = p
        if "exclusiveGroup" in option:
            target = groups.setdefault(option["exclusiveGroup"], p.add_mutually_exclusive_group())
        kind = option["type"]
        if kind == "version":
            target.add_argument(*names, action="version", version=f"ODM {data['version']}")
        elif kind == "flag":
            target.add_argument(*names, action=_Mark, nargs=0, default=False, flag=True)
        else:
            default = option.get("default")
            if default == "cpu_count":
                default = multiprocessing.cpu_count()
            target.add_argument(
                *names, action=_Mark, type=_TYPES[kind], choices=option.get("choices"), default=default
            )
    return p


@dataclass(frozen=True)
class OdmArgs:
    """The parsed command line: every option's value (argparse dests, underscores) after ODM's rewrites."""

    values: dict[str, Any]
    given: frozenset[str]  # dests the command line set
    warnings: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)  # the lines ODM logs about its rewrites

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def project(self) -> str:
        return str(self.values["name"])


def parse(argv: list[str]) -> OdmArgs:
    """ODM's parse of ``argv`` (what follows run.py); raises OdmUsageError where ODM exits 2."""
    namespace, unknown = parser().parse_known_args(argv)
    deprecated = {f"--{name}" for name in facts()["deprecated"]}
    leftover = [arg for arg in unknown if arg not in deprecated]
    if leftover:
        parser().error(f"unrecognized arguments: {' '.join(leftover)}")
    warnings = tuple(f"{arg} is no longer a valid argument and will be ignored!" for arg in unknown)
    values = {k: v for k, v in vars(namespace).items() if k != "_set"}
    given = frozenset(vars(namespace).get("_set", set()))
    notes: list[str] = []
    if values["fast_orthophoto"]:
        notes.append("Fast orthophoto is turned on, automatically setting --skip-3dmodel")
        values["skip_3dmodel"] = True
    if values["pc_rectify"] and not values["pc_classify"]:
        notes.append("Ground rectify is turned on, automatically turning on point cloud classification")
        values["pc_classify"] = True
    if values["dtm"] and not values["pc_classify"]:
        notes.append("DTM is turned on, automatically turning on point cloud classification")
        values["pc_classify"] = True
    if values["skip_3dmodel"] and values["use_3dmesh"]:
        notes.append("--skip-3dmodel is set, but so is --use-3dmesh. --skip-3dmodel will be ignored.")
        values["skip_3dmodel"] = False
    if values["orthophoto_cutline"] and not values["crop"]:
        notes.append("--orthophoto-cutline is set, but --crop is not. --crop will be set to 0.01")
        values["crop"] = 0.01
    return OdmArgs(values, given, warnings, tuple(notes))
