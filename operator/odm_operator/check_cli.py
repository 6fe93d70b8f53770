"""`odm-operator check`: are the operator's settings good, before installing? One line per problem.

First the pure check (plan/settings_check.py: what AWS would refuse, what jobs will need), then read-only AWS calls
that prove the named subnets, security groups, roles, instance profile, cluster and capacity provider exist
(aws/preflight.py; the permissions are in manifests/aws/check-policy.json). Settings come from the environment
(ODM_OPERATOR_*) and ``--set``, as for ``render``. Exit 0 when nothing is wrong, 1 with problems, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_command(sub: Any) -> None:
    p = sub.add_parser(
        "check", help="check the operator's settings (offline rules, then read-only AWS calls)"
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override an operator setting"
    )
    p.add_argument("--offline", action="store_true", help="only the rules; no AWS call")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from .cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, InputError, _settings
    from .plan.settings_check import check_settings

    try:
        settings = _settings(args.set)
    except (InputError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    lines = [f"{p} [affects {p.scope} jobs]" for p in check_settings(settings)]
    if not args.offline:
        lines += _aws_problems(settings)
    for line in lines:
        print(line)
    if not lines:
        print(f"settings OK (region {settings.region}, cluster {settings.cluster})", file=sys.stderr)
    return EXIT_INVALID if lines else EXIT_OK


def _aws_problems(settings: Any) -> list[str]:
    import boto3

    from .aws import preflight

    session = boto3.session.Session(region_name=settings.region)
    ec2, iam, ecs = (session.client(name) for name in ("ec2", "iam", "ecs"))
    problems = preflight.check_subnets(ec2, list(settings.subnets), list(settings.security_groups))
    for setting, ecs_tasks in (("task_role_arn", True), ("execution_role_arn", True)):
        arn = getattr(settings, setting)
        if arn:
            problems += preflight.check_role(iam, setting, arn, ecs_tasks)
    if settings.instance_profile_arn:
        problems += preflight.check_instance_profile(iam, settings.instance_profile_arn)
    problems += preflight.check_cluster(ecs, settings.cluster, settings.create_cluster)
    if settings.capacity_provider and settings.capacity_provider not in ("FARGATE", "FARGATE_SPOT"):
        problems += preflight.check_capacity_provider(ecs, settings.capacity_provider)
    return [f"AWS: {p}" for p in problems]
