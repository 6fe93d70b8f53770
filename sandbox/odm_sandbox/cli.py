"""`odm-sandbox` (also `odm-operator sandbox`): start the local stack, apply ODMJobs, show them progressing,
optionally wait.

    odm-sandbox --state-dir DIR [--time-scale X] [--aws-quotas on|off] [--no-operator] [--wait]
                         [--timeout S] [FILE ...]

Writes DIR/kubeconfig, DIR/aws.env, DIR/sandbox.env and finally DIR/ready. With --wait it exits when every applied
job has finished: 0 if all succeeded, 1 otherwise (or 1 on --timeout). SIGINT/SIGTERM shut everything down.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kubernetes
import yaml
from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from odm_operator import API_GROUP, API_VERSION, KIND, PLURAL
from odm_operator.plan.status import FINISHED

if TYPE_CHECKING:  # the stack imports moto: ~200 MB the operator must not pay for `run`
    from .stack import Stack

REFRESH_SECONDS = 0.5


def main(argv: list[str] | None = None) -> int:
    """The ``odm-sandbox`` command: the same arguments as ``odm-operator sandbox``."""
    parser = argparse.ArgumentParser(prog="odm-sandbox", description=HELP)
    _arguments(parser)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


HELP = "run the embedded local stack (Kubernetes API + AWS emulators + operator)"


def add_sandbox_command(sub: Any) -> None:
    """Registers ``odm-operator sandbox`` (entry point ``odm_operator.commands``)."""
    _arguments(sub.add_parser("sandbox", help=HELP))


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", metavar="FILE", help="ODMJob YAML files to apply once it is up")
    p.add_argument("--state-dir", required=True, type=Path, help="where kubeconfig, aws.env and logs go")
    p.add_argument("--time-scale", type=float, default=120.0, help="simulated seconds per real second")
    p.add_argument("--aws-quotas", choices=("on", "off"), default="on", help="enforce ECS API rate limits")
    p.add_argument("--no-operator", action="store_true", help="start only the emulators")
    p.add_argument("--wait", action="store_true", help="exit when every applied job has finished")
    p.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    p.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="NAME=PHASE",
        help="with --wait: the phase job NAME should end in (default Succeeded); exit 0 only if all match",
    )
    p.add_argument(
        "--pyodm",
        action="store_true",
        help="with --wait: then send the small dataset through the NodeODM gateway with pyodm and download its all.zip",
    )
    p.set_defaults(func=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    console = Console(stderr=False)
    try:
        docs = [d for path in args.files for d in yaml.safe_load_all(Path(path).read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        print(f"cannot read the files to apply: {exc}", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    from .stack import Stack

    stack = Stack(args.state_dir, args.time_scale, args.aws_quotas == "on", not args.no_operator)
    try:
        stack.start()
        console.print(
            f"[bold]sandbox ready[/] in {time.monotonic() - started:.1f}s: "
            f"kubectl --kubeconfig {stack.kubeconfig} get odmj -w   |   source {args.state_dir}/aws.env"
        )
        api = kubernetes.client.CustomObjectsApi(
            kubernetes.config.new_client_from_config(str(stack.kubeconfig))
        )
        core = kubernetes.client.CoreV1Api(api.api_client)
        applied = [apply(api, core, doc, console) for doc in docs]
        applied = [a for a in applied if a]
        status = watch(api, applied, args, stopping, console, started, stack)
        if args.pyodm and args.wait and not stopping.is_set():
            from .nodeodm_demo import run

            status = run(stack, console) or status
        return status
    finally:
        stack.stop()


def apply(api: Any, core: Any, doc: dict[str, Any], console: Console) -> tuple[str, str] | None:
    """Create a document (ODMJobs and Namespaces); returns (namespace, name) of an ODMJob."""
    if doc.get("kind") == "Namespace":
        _create_namespace(core, doc["metadata"]["name"])
        return None
    if doc.get("kind") != KIND:
        console.print(f"[yellow]skipped[/] {doc.get('kind')} {doc.get('metadata', {}).get('name')}")
        return None
    namespace = doc.get("metadata", {}).get("namespace", "default")
    _create_namespace(core, namespace)
    try:
        created = api.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, doc)
    except kubernetes.client.ApiException as exc:
        console.print(f"[red]refused[/] {namespace}/{doc.get('metadata', {}).get('name')}: {exc.body or exc}")
        return None
    console.print(f"applied odmjob {namespace}/{created['metadata']['name']}")
    return namespace, created["metadata"]["name"]


def _create_namespace(core: Any, name: str) -> None:
    try:
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    except kubernetes.client.ApiException as exc:
        if exc.status != 409:
            raise


def watch(
    api: Any,
    applied: list[tuple[str, str]],
    args: argparse.Namespace,
    stopping: threading.Event,
    console: Console,
    started: float,
    stack: Stack,
) -> int:
    live = console.is_terminal
    last_lines: dict[str, str] = {}
    jobs: list[dict[str, Any]] = []
    with (
        Live(render(jobs), console=console, refresh_per_second=4, transient=False)
        if live
        else _Null() as view
    ):
        while not stopping.is_set():
            jobs = api.list_cluster_custom_object(API_GROUP, API_VERSION, PLURAL).get("items", [])
            if live:
                view.update(render(jobs))
            else:
                for job in jobs:
                    key, line = _line(job)
                    if last_lines.get(key) != line:
                        last_lines[key] = line
                        console.print(line, highlight=False)
            if args.wait and applied:
                mine = [j for j in jobs if (j["metadata"]["namespace"], j["metadata"]["name"]) in applied]
                phases = [(j.get("status") or {}).get("phase") for j in mine]
                if len(mine) == len(applied) and all(p in FINISHED for p in phases):
                    break
            died = stack.operator_died()
            if died is not None:
                console.print(f"[red]the operator exited[/] (see {args.state_dir}/operator.log):\n{died}")
                return 1
            if args.timeout and time.monotonic() - started > args.timeout:
                console.print(f"[red]timed out[/] after {args.timeout:.0f}s")
                return 1
            stopping.wait(REFRESH_SECONDS)
    if not args.wait:
        return 0
    expected = dict(pair.split("=", 1) for pair in args.expect if "=" in pair)
    return summarize(jobs, applied, console, expected)


def summarize(
    jobs: list[dict[str, Any]], applied: list[tuple[str, str]], console: Console, expected: dict[str, str]
) -> int:
    ok = True
    for job in jobs:
        meta, status = job["metadata"], job.get("status") or {}
        if (meta["namespace"], meta["name"]) not in applied:
            continue
        phase = status.get("phase")
        ok = ok and phase == expected.get(meta["name"], "Succeeded")
        console.print(
            f"{meta['namespace']}/{meta['name']}: {phase} ({status.get('reason')}): {status.get('message')}"
        )
        for product, uri in sorted((status.get("outputs") or {}).items()):
            console.print(f"    {product}: {uri}")
        if phase == "Succeeded" and not status.get("outputs"):
            console.print(f"    products under {job['spec']['output']['s3Uri']}")
    return 0 if ok and applied else 1


def _line(job: dict[str, Any]) -> tuple[str, str]:
    meta, status = job["metadata"], job.get("status") or {}
    progress = (status.get("progress") or {}).get("percent")
    key = f"{meta['namespace']}/{meta['name']}"
    pct = f"{progress:3d}%" if isinstance(progress, int) else "   -"
    return key, f"{key:40} {status.get('phase') or 'Pending':10} {pct} {status.get('reason') or ''}"


def render(jobs: list[dict[str, Any]]) -> Table:
    table = Table(title="ODMJobs", expand=False)
    for column in ("NAMESPACE/NAME", "PHASE", "PROGRESS", "REASON", "MESSAGE"):
        table.add_column(column)
    for job in jobs:
        meta, status = job["metadata"], job.get("status") or {}
        percent = (status.get("progress") or {}).get("percent") or 0
        done = status.get("phase") == "Succeeded"
        table.add_row(
            f"{meta['namespace']}/{meta['name']}",
            status.get("phase") or "Pending",
            ProgressBar(total=100, completed=100 if done else percent, width=20),
            status.get("reason") or "",
            (status.get("message") or "")[:60],
        )
    return table


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *_: Any) -> None:
        return None
