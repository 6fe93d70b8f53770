"""The ``odm-operator`` command: crd, validate, render (offline), and the commands that start things.

Exit codes follow the usual convention: 0 success, 1 the input is invalid (or a job failed), 2 the command could
not read its input or was used wrongly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from . import API_GROUP, KIND, __version__, gateway_cli
from .check_cli import add_command as add_check_command

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    return int(args.func(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="odm-operator", description="Run OpenDroneMap jobs on AWS ECS.")
    parser.add_argument("--version", action="version", version=f"odm-operator {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    p = sub.add_parser("crd", help="print the ODMJob CustomResourceDefinition")
    p.set_defaults(func=cmd_crd)

    p = sub.add_parser("validate", help="validate ODMJob YAML files offline")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override an operator setting"
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("render", help="print, as JSON, what the operator would send to AWS for an ODMJob")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override an operator setting"
    )
    p.add_argument("--attempt", type=int, default=1, help="attempt number (clientToken and tags)")
    p.add_argument(
        "--images",
        type=int,
        default=None,
        help="image count to size a job without spec.resources (default 40)",
    )
    p.set_defaults(func=cmd_render)

    add_check_command(sub)
    _add_run_commands(sub)
    gateway_cli.add_command(sub)
    from .logs_cli import add_command as add_logs_command  # `odm-operator logs`

    add_logs_command(sub)
    return parser


def _add_run_commands(sub: Any) -> None:
    """Commands that start long-running things; their modules are imported only when used."""
    try:
        from .run_cli import add_commands
    except ImportError:
        return
    add_commands(sub)


# ----- crd -------------------------------------------------------------------------------------------------------


def cmd_crd(args: argparse.Namespace) -> int:
    from .api.crd import crd_yaml

    sys.stdout.write(crd_yaml())
    return EXIT_OK


# ----- validate --------------------------------------------------------------------------------------------------


class InputError(Exception):
    """A file that cannot be read or parsed."""


def load_documents(path: str) -> list[Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from exc


def odm_jobs(docs: list[Any]) -> Iterator[tuple[int, Any]]:
    """The documents that claim to be ODMJobs (our API group or our kind); others (Namespaces, ...) are skipped."""
    for index, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict):
            yield index, doc
            continue
        api_version = str(doc.get("apiVersion", ""))
        if doc.get("kind") == KIND or api_version.startswith(API_GROUP + "/") or not api_version:
            yield index, doc


def _settings(pairs: list[str]) -> Any:
    from .settings import load_settings

    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"--set {pair!r}: expected KEY=VALUE")
        overrides[key.strip()] = value
    try:
        return load_settings(overrides)
    except ValueError as exc:
        raise InputError(f"--set: {exc}") from exc


def cmd_validate(args: argparse.Namespace) -> int:
    from .plan.admission import check_job

    try:
        settings = _settings(args.set)
    except InputError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    status = EXIT_OK
    for path in args.files:
        try:
            docs = load_documents(path)
        except InputError as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
        jobs = list(odm_jobs(docs))
        if not jobs:
            print(f"{path}: no ODMJob found", file=sys.stderr)
            status = EXIT_INVALID
        for index, doc in jobs:
            where = path if len(docs) == 1 else f"{path}#{index}"
            errors = check_job(doc, settings)
            for error in errors:
                print(f"{where}: {error.path}: {error.message}")
            if errors:
                status = EXIT_INVALID
            else:
                print(f"{where}: valid", file=sys.stderr)
    return status


# ----- render ----------------------------------------------------------------------------------------------------


PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"


def cmd_render(args: argparse.Namespace) -> int:
    from .api.validation import parse_spec
    from .plan.admission import check_job
    from .plan.desired import JobRef, plan_job
    from .plan.sizing import SizingError

    try:
        settings = _settings(args.set)
        jobs = list(odm_jobs(load_documents(args.file)))
    except InputError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if len(jobs) != 1:
        print(f"{args.file}: render takes a file with exactly one ODMJob, found {len(jobs)}", file=sys.stderr)
        return EXIT_USAGE
    _, doc = jobs[0]
    errors = check_job(doc, settings)
    if errors:
        for error in errors:
            print(f"{args.file}: {error.path}: {error.message}", file=sys.stderr)
        return EXIT_INVALID
    meta = doc.get("metadata", {})
    job = JobRef(meta.get("namespace", "default"), meta.get("name", ""), meta.get("uid", PLACEHOLDER_UID))
    spec = parse_spec(doc["spec"])
    notes = []
    images = args.images
    if spec.resources is None:
        images = 40 if images is None else images
        notes.append(
            f"spec.resources is omitted: the operator sizes the task from the images under the input prefix; "
            f"rendered for {images} images (--images N)"
        )
    try:
        desired = plan_job(spec, settings, job, attempt=args.attempt, images=images)
    except SizingError as exc:
        print(f"{args.file}: spec.resources: {exc}", file=sys.stderr)
        return EXIT_INVALID
    from .plan.settings_check import check_settings, problems_for

    notes += [f"the operator would fail this job (InvalidConfiguration): {p}" for p in
              problems_for(spec, settings, check_settings(settings))]  # fmt: skip
    capacity: dict[str, Any] = {
        "type": desired.capacity.kind,
        "cluster": desired.capacity.cluster,
        "capacityProvider": desired.capacity.provider,
        "capacityProviderStrategy": desired.capacity.strategy,
    }
    capacity.update(desired.capacity.requests)
    out = {
        "job": f"{job.namespace}/{job.name}",
        "taskDefinition": desired.task_definition,
        "capacity": capacity,
        "runTask": desired.run_task,
        "notes": notes,
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
