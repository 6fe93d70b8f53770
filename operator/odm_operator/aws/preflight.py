"""Read-only AWS calls that prove the operator's settings name things that exist: for ``odm-operator check``.

A person runs these before installing, with their own credentials, so they are plain functions taking a client
(not gateway methods): the operator never makes them, and its IAM policy does not grant them. What they need is in
manifests/aws/check-policy.json. Each function returns one sentence per problem, empty when all is well.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from .errors import describe, error_code, is_not_found

# The service principal ECS tasks assume roles as (task role and task execution role trust policies).
ECS_TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"


def check_subnets(ec2: Any, subnets: list[str], groups: list[str]) -> list[str]:
    """The subnets and security groups exist, and the groups are in the subnets' VPC (awsvpc needs that)."""
    problems: list[str] = []
    vpcs: set[str] = set()
    for subnet in subnets:
        try:
            found = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"]
        except (ClientError, BotoCoreError) as exc:
            problems.append(_failed("subnets", subnet, exc, "DescribeSubnets"))
            continue
        vpcs.update(s["VpcId"] for s in found)
    if len(vpcs) > 1:
        problems.append(f"subnets: the subnets are in different VPCs ({', '.join(sorted(vpcs))})")
    for group in groups:
        try:
            found = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
        except (ClientError, BotoCoreError) as exc:
            problems.append(_failed("security_groups", group, exc, "DescribeSecurityGroups"))
            continue
        outside = [g["GroupId"] for g in found if vpcs and g.get("VpcId") not in vpcs]
        if outside:
            problems.append(
                f"security_groups: {group} is not in the subnets' VPC ({', '.join(sorted(vpcs))})"
            )
    return problems


def check_role(iam: Any, setting: str, arn: str, ecs_tasks: bool) -> list[str]:
    """The role exists; with ``ecs_tasks``, its trust policy lets ECS tasks assume it."""
    name = arn.rsplit("/", 1)[-1]
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except (ClientError, BotoCoreError) as exc:
        return [_failed(setting, arn, exc, "GetRole")]
    if role.get("Arn") != arn:
        return [f"{setting}: {arn} does not match the role found, {role.get('Arn')}"]
    if ecs_tasks and ECS_TASKS_PRINCIPAL not in json.dumps(_trust(role)):
        return [
            f"{setting}: {arn} does not trust {ECS_TASKS_PRINCIPAL} (see manifests/aws/ecs-tasks-trust.json)"
        ]
    return []


def check_instance_profile(iam: Any, arn: str) -> list[str]:
    try:
        iam.get_instance_profile(InstanceProfileName=arn.rsplit("/", 1)[-1])
    except (ClientError, BotoCoreError) as exc:
        return [_failed("instance_profile_arn", arn, exc, "GetInstanceProfile")]
    return []


def check_cluster(ecs: Any, cluster: str, create: bool) -> list[str]:
    try:
        found = ecs.describe_clusters(clusters=[cluster]).get("clusters", [])
    except (ClientError, BotoCoreError) as exc:
        return [_failed("cluster", cluster, exc, "DescribeClusters")]
    if not any(c.get("status") == "ACTIVE" for c in found) and not create:
        return [f"cluster: {cluster} does not exist and create_cluster is false"]
    return []


def check_capacity_provider(ecs: Any, provider: str) -> list[str]:
    try:
        found = ecs.describe_capacity_providers(capacityProviders=[provider]).get("capacityProviders", [])
    except (ClientError, BotoCoreError) as exc:
        return [_failed("capacity_provider", provider, exc, "DescribeCapacityProviders")]
    if not any(p.get("status") == "ACTIVE" for p in found):
        return [
            f"capacity_provider: {provider} does not exist (DescribeCapacityProviders found no ACTIVE one)"
        ]
    return []


def _trust(role: dict[str, Any]) -> Any:
    document = role.get("AssumeRolePolicyDocument") or {}
    return json.loads(unquote(document)) if isinstance(document, str) else document


def _failed(setting: str, value: str, exc: BaseException, operation: str) -> str:
    code = error_code(exc)
    if is_not_found(exc):
        return f"{setting}: {value} does not exist ({operation}: {code})"
    return f"{setting}: could not check {value}: {describe(exc, operation)}"
