"""`odm-operator gateway`: serve the NodeODM API (settings ODM_GATEWAY_*; Kubernetes from the kubeconfig or the
pod's service account, AWS from the environment)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any


def add_command(sub: Any) -> None:
    p = sub.add_parser("gateway", help="serve the NodeODM API (WebODM, pyodm) over ODMJobs")
    p.add_argument("--host", default=None, help="address to listen on (default: ODM_GATEWAY_HOST)")
    p.add_argument("--port", type=int, default=None, help="port (default: ODM_GATEWAY_PORT, 3000)")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_gateway)


def build(settings: Any) -> Any:
    """The aiohttp application for ``settings`` (kubeconfig or in-cluster credentials; AWS from the env)."""
    from .aws.nodeodm.clients import make_clients
    from .aws.nodeodm.console_logs import ConsoleLogs
    from .aws.nodeodm.staging import Staging
    from .gateway.app import Gateway
    from .gateway.console import Console
    from .gateway.store import TaskStore
    from .kube_client import api_client

    clients = make_clients(settings.region)
    store = TaskStore(api_client(), settings.namespace, settings.task_list_refresh_seconds)
    console = Console(
        ConsoleLogs(clients.logs),
        settings.logs_calls_per_second,
        settings.console_refresh_seconds,
        settings.console_cache_tasks,
    )
    return Gateway(settings, store, Staging(clients.s3), console).app()


def cmd_gateway(args: argparse.Namespace) -> int:
    from aiohttp import web
    from pydantic import ValidationError

    from .gateway.settings import GatewaySettings

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("botocore", "urllib3", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = GatewaySettings()
    except ValidationError as exc:
        print(f"gateway settings (ODM_GATEWAY_*) are invalid:\n{exc}", file=sys.stderr)
        return 2
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    logging.getLogger(__name__).info(
        "Gateway started namespace=%s listen=%s:%d public_url=%s",
        settings.namespace,
        host,
        port,
        settings.public_url or "-",
    )
    web.run_app(build(settings), host=host, port=port, print=None, access_log=None)
    return 0
