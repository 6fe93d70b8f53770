"""The operator's settings against what AWS will accept and what the jobs will need: pure, no AWS call.

A setting missing or malformed makes every request that uses it fail at AWS, often late (an empty subnet list
reaches RunTask, an `aws:` tag fails every create call). Checked once when the operator starts (each problem is
logged) and by ``odm-operator check``; a job that needs a broken setting fails at once with reason
InvalidConfiguration and a message naming the setting, its environment variable and its Helm value, while jobs that
do not need it still run.

Each problem has a scope, the jobs it affects: ``fargate`` (awsvpc tasks), ``managed`` (ec2 jobs on
operator-managed capacity), ``existing`` (ec2 jobs on a named provider) or ``all``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .. import contract
from ..api.types import ODMJobSpec
from ..settings import Settings
from .split_merge import url_problem

FARGATE, MANAGED, EXISTING, ALL = "fargate", "managed", "existing", "all"
_SCOPES = {FARGATE: (FARGATE,), MANAGED: (MANAGED,), EXISTING: (EXISTING,), ALL: (FARGATE, MANAGED, EXISTING)}
# Problems that stop only jobs with spec.odm.splitMerge.distributed, whatever their capacity.
SPLIT_MERGE = "split-merge"
MIN_SPLIT_MERGE_TOKEN = 16  # the gateway's own minimum (gateway/settings.py MIN_TOKEN_CHARS)

# RunTask tags: at most 50 (botocore ECS model, Tags max 50); the operator adds managed-by plus four job tags.
MAX_TAGS = 50
OPERATOR_TAGS_ON_RUN_TASK = 5
MAX_ADMIN_TAGS = MAX_TAGS - OPERATOR_TAGS_ON_RUN_TASK
# Tag key 1..128 and value 0..256 characters; "aws:" in any case is reserved (ECS Tag shape, "Tagging your
# Amazon ECS resources": "Do not use aws:, AWS:, or any upper or lowercase combination of such as a prefix").
MAX_TAG_KEY, MAX_TAG_VALUE = 128, 256
# ECS TagKey/TagValue pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$ (botocore ECS model): letters, separators
# (spaces), digits and these symbols. Python's re has no \p{...}, hence the Unicode categories.
_TAG_SYMBOLS = set("_.:/=+-@")
# IAM ARNs (IAM User Guide, "IAM identifiers"): partition, 12-digit account, role/ or instance-profile/ + path.
_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_PROFILE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):instance-profile/[\w+=,.@/-]{1,512}$")
# Region names, and the partition each region prefix belongs to.
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_PARTITIONS = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-iso-", "aws-iso"),
    ("us-isob-", "aws-iso-b"),
)
# EC2 resource IDs (DescribeSubnets / DescribeSecurityGroups ID formats).
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
# ECS cluster and capacity provider names: up to 255 letters, digits, - and _ (botocore ECS model).
_ECS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# CloudWatch Logs group name: 1..512 of [.\-_/#A-Za-z0-9] (botocore logs model, LogGroupName); a stream name
# (the awslogs prefix is part of it) must not hold ':' or '*'.
_LOG_GROUP = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
_STREAM_PREFIX = re.compile(r"^[^:*]{1,400}$")


@dataclass(frozen=True)
class SettingProblem:
    setting: str  # the Settings field, e.g. subnets
    message: str
    scope: str = ALL

    @property
    def env(self) -> str:
        return "ODM_OPERATOR_" + self.setting.upper()

    @property
    def helm(self) -> str:
        head, *rest = self.setting.split("_")
        return "config." + head + "".join(part.title() for part in rest)

    def __str__(self) -> str:
        return f"setting {self.setting} ({self.env}, Helm value {self.helm}): {self.message}"


def check_settings(settings: Settings) -> list[SettingProblem]:
    """Every problem with the settings, in a stable order."""
    problems: list[SettingProblem] = []
    problems += _network(settings)
    problems += _roles(settings)
    problems += _tags(settings.tags)
    problems += _names(settings)
    problems += _split_merge(settings)
    return problems


def job_scope(spec: ODMJobSpec, settings: Settings) -> str:
    """Which kind of capacity the job runs on, as the problems' scopes name it."""
    if spec.capacity.type == "fargate":
        return FARGATE
    if spec.capacity.provider or settings.capacity_provider or not settings.manage_capacity:
        return EXISTING
    return MANAGED


def problems_for(
    spec: ODMJobSpec, settings: Settings, problems: list[SettingProblem]
) -> list[SettingProblem]:
    """The problems that stop this job (the others do not concern it)."""
    scope = job_scope(spec, settings)
    out = [p for p in problems if p.scope != SPLIT_MERGE and scope in _SCOPES[p.scope]]
    if spec.odm.split_merge.distributed:
        out += [p for p in problems if p.scope == SPLIT_MERGE] + _split_merge_unset(settings)
    return out


def _split_merge(settings: Settings) -> list[SettingProblem]:
    """Malformed split-merge settings (unset ones concern only the jobs that need them: _split_merge_unset)."""
    out = []
    if settings.split_merge_url:
        problem = url_problem(settings.split_merge_url)
        if problem:
            out.append(SettingProblem("split_merge_url", problem, SPLIT_MERGE))
    token = settings.split_merge_token
    if token is not None and len(token) < MIN_SPLIT_MERGE_TOKEN:
        out.append(SettingProblem("split_merge_token", f"must be the gateway's token (at least "
                                  f"{MIN_SPLIT_MERGE_TOKEN} characters, as the gateway requires)", SPLIT_MERGE))  # fmt: skip
    return out


def _split_merge_unset(settings: Settings) -> list[SettingProblem]:
    """Distributed split-merge jobs need the gateway as ECS tasks reach it, and its token to derive theirs."""
    out = []
    if not settings.split_merge_url:
        out.append(SettingProblem("split_merge_url", "is not set: distributed split-merge jobs need the NodeODM "
                                  "gateway's URL as ECS tasks reach it, e.g. http://odm-gateway.internal:3000",
                                  SPLIT_MERGE))  # fmt: skip
    if settings.split_merge_token is None:
        out.append(SettingProblem("split_merge_token", "is not set: distributed split-merge jobs need the "
                                  "gateway's token (its ODM_GATEWAY_TOKEN)", SPLIT_MERGE))  # fmt: skip
    return out


def _network(settings: Settings) -> list[SettingProblem]:
    out = []
    if not settings.subnets:
        out.append(SettingProblem("subnets", "is empty; Fargate tasks (awsvpc) need subnets", FARGATE))
        if settings.manage_capacity:
            out.append(
                SettingProblem(
                    "subnets",
                    "is empty; operator-managed Auto Scaling groups need subnets (VPCZoneIdentifier)",
                    MANAGED,
                )
            )
    if not settings.security_groups:
        why = "the operator does not fall back to the VPC's default group, whose rules it cannot see"
        out.append(SettingProblem("security_groups", f"is empty; Fargate tasks need one ({why})", FARGATE))
        if settings.manage_capacity:
            out.append(
                SettingProblem("security_groups", f"is empty; managed instances need one ({why})", MANAGED)
            )
    for subnet in settings.subnets:
        if not _SUBNET.match(subnet):
            out.append(
                SettingProblem("subnets", f"{subnet!r} is not a subnet ID like subnet-0123456789abcdef0")
            )
    for group in settings.security_groups:
        if not _GROUP.match(group):
            out.append(
                SettingProblem(
                    "security_groups", f"{group!r} is not a security group ID like sg-0123456789abcdef0"
                )
            )
    return out


def _roles(settings: Settings) -> list[SettingProblem]:
    out = []
    if not settings.execution_role_arn:
        out.append(
            SettingProblem(
                "execution_role_arn",
                'is not set; Fargate needs a task execution role for the awslogs log driver (ECS: "Fargate '
                'requires task definition to have execution role ARN to support log driver awslogs")',
                FARGATE,
            )
        )
    accounts: dict[str, str] = {}
    partition = _partition(settings.region)
    for name, pattern, kind in (
        ("task_role_arn", _ROLE_ARN, "role"),
        ("execution_role_arn", _ROLE_ARN, "role"),
        ("instance_profile_arn", _PROFILE_ARN, "instance-profile"),
    ):
        value = getattr(settings, name)
        if not value:
            continue
        match = pattern.match(value)
        if match is None:
            example = f"arn:{partition}:iam::123456789012:{kind}/name"
            out.append(SettingProblem(name, f"{value!r} is not an IAM {kind} ARN like {example}"))
            continue
        if match.group(1) != partition:
            out.append(
                SettingProblem(
                    name, f"is in partition {match.group(1)} but region {settings.region} is in {partition}"
                )
            )
        accounts[name] = match.group(2)
    if len(set(accounts.values())) > 1:
        listed = ", ".join(f"{k} {v}" for k, v in accounts.items())
        out.append(
            SettingProblem(
                next(iter(accounts)),
                f"the role ARNs name different accounts ({listed}); ECS passes roles of its own account only",
            )
        )
    return out


def _partition(region: str) -> str:
    return next((p for prefix, p in _PARTITIONS if region.startswith(prefix)), "aws")


def _tags(tags: dict[str, str]) -> list[SettingProblem]:
    out = []
    if len(tags) > MAX_ADMIN_TAGS:
        out.append(
            SettingProblem(
                "tags",
                f"has {len(tags)} tags; at most {MAX_ADMIN_TAGS} (RunTask takes {MAX_TAGS} and the operator adds "
                f"{OPERATOR_TAGS_ON_RUN_TASK})",
            )
        )
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY:
            out.append(SettingProblem("tags", f"key {key[:40]!r} must be 1 to {MAX_TAG_KEY} characters"))
        if len(value) > MAX_TAG_VALUE:
            out.append(SettingProblem("tags", f"the value of {key!r} is over {MAX_TAG_VALUE} characters"))
        if key.lower().startswith("aws:"):
            out.append(SettingProblem("tags", f"key {key!r}: the aws: prefix is reserved for AWS"))
        if key.startswith(contract.TAG_MANAGED_BY.split("/")[0] + "/"):
            out.append(
                SettingProblem("tags", f"key {key!r}: the odm-operator.io/ prefix is the operator's own")
            )
        for what, text in (("key", key), ("value", value)):
            bad = sorted({c for c in text if not _tag_char(c)})
            if bad:
                out.append(
                    SettingProblem(
                        "tags",
                        f"{what} {text[:40]!r} holds {''.join(bad)!r}; ECS tags take letters, digits, spaces "
                        "and _ . : / = + - @",
                    )
                )
    return out


def _tag_char(c: str) -> bool:
    return c in _TAG_SYMBOLS or unicodedata.category(c)[0] in "LZN"


def _names(settings: Settings) -> list[SettingProblem]:
    out = []
    if not _REGION.match(settings.region):
        out.append(SettingProblem("region", f"{settings.region!r} is not a region name like us-east-1"))
    if not _ECS_NAME.match(settings.cluster):
        out.append(SettingProblem("cluster", "must be 1 to 255 letters, digits, - and _ (ECS cluster names)"))
    provider = settings.capacity_provider
    if provider is not None:
        if provider in ("FARGATE", "FARGATE_SPOT"):
            out.append(
                SettingProblem(
                    "capacity_provider",
                    f"{provider} is a Fargate provider; this setting names the EC2 provider for ec2 jobs",
                    EXISTING,
                )
            )
        elif not _ECS_NAME.match(provider):
            out.append(
                SettingProblem("capacity_provider", "must be 1 to 255 letters, digits, - and _", EXISTING)
            )
    if not _LOG_GROUP.match(settings.log_group):
        out.append(SettingProblem("log_group", "must be 1 to 512 of letters, digits and . - _ / #"))
    if not _STREAM_PREFIX.match(settings.log_stream_prefix):
        out.append(SettingProblem("log_stream_prefix", "must be non-empty and hold neither ':' nor '*'"))
    return out
