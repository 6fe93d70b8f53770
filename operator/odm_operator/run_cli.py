"""`odm-operator run` (and `sandbox` when the odm-sandbox distribution is installed): the commands that start
processes."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import random
from typing import Any


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run the operator (kubeconfig or in-cluster credentials; AWS from the environment)"
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    p.add_argument("--standalone", action="store_true", help="no peering: run alone (one replica)")
    p.add_argument(
        "--peering", default=None, help="kopf peering name for several replicas (default: standalone)"
    )
    p.add_argument(
        "--priority",
        type=int,
        default=None,
        help="kopf peering priority; the highest works, the others stand by (default: random with --peering, "
        "because peers of equal priority all pause)",
    )
    p.add_argument(
        "--liveness", default="http://0.0.0.0:8080/healthz", help="liveness endpoint URL ('' disables)"
    )
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_run)
    # Commands of other distributions (odm-sandbox's `sandbox`), found by entry point: the operator imports none.
    for entry in importlib.metadata.entry_points(group="odm_operator.commands"):
        entry.load()(sub)


def cmd_run(args: argparse.Namespace) -> int:
    import kopf

    from . import handlers  # noqa: F401  (registers the handlers)

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("botocore", "urllib3", "kubernetes", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not args.verbose:  # kopf logs per-object handling at INFO: thousands of lines an hour
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    namespaces = args.namespace or []
    standalone = args.standalone or not args.peering
    priority = args.priority
    if priority is None and not standalone:
        priority = random.randint(1, 2**31 - 1)
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=standalone,
            peering_name=args.peering,
            priority=priority,
            liveness_endpoint=args.liveness or None,
        )
    )
    return 0
