"""Settings are checked against what AWS accepts and what jobs need; a job that needs a broken setting fails at
once (InvalidConfiguration) naming the setting, its environment variable and its Helm value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from odm_operator.api.validation import parse_spec
from odm_operator.plan import reconcile as plan
from odm_operator.plan.settings_check import check_settings, problems_for
from odm_operator.settings import Settings

from .helpers import job

ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
GOOD = {
    "subnets": ["subnet-0123456789abcdef0"],
    "security_groups": ["sg-0123456789abcdef0"],
    "execution_role_arn": ROLE,
}


def settings(**changes):
    return Settings(**{**GOOD, **changes})


CASES = [
    pytest.param(
        {"subnets": []}, "subnets", "Fargate tasks (awsvpc) need subnets", "fargate", id="no subnets, Fargate"
    ),
    pytest.param({"subnets": []}, "subnets", "VPCZoneIdentifier", "managed", id="no subnets, managed ASG"),
    pytest.param({"security_groups": []}, "security_groups", "Fargate", "fargate", id="no security groups"),
    pytest.param({"subnets": ["subnet-1"]}, "subnets", "not a subnet ID", "all", id="malformed subnet ID"),
    pytest.param(
        {"security_groups": ["default"]}, "security_groups", "not a security group ID", "all", id="SG name"
    ),
    pytest.param(
        {"execution_role_arn": None},
        "execution_role_arn",
        "awslogs",
        "fargate",
        id="Fargate awslogs needs a role",
    ),
    pytest.param(
        {"task_role_arn": "ecsTaskRole"},
        "task_role_arn",
        "not an IAM role ARN",
        "all",
        id="role name, not ARN",
    ),
    pytest.param(
        {"instance_profile_arn": ROLE},
        "instance_profile_arn",
        "not an IAM instance-profile ARN",
        "all",
        id="a role ARN given as the instance profile",
    ),
    pytest.param(
        {"task_role_arn": "arn:aws:iam::210987654321:role/odm"},
        "task_role_arn",
        "different accounts",
        "all",
        id="roles of two accounts",
    ),
    pytest.param(
        {"region": "cn-north-1"},
        "execution_role_arn",
        "partition aws but",
        "all",
        id="partition not the region's",
    ),
    pytest.param(
        {"tags": {f"k{i}": "v" for i in range(46)}},
        "tags",
        "at most 45",
        "all",
        id="46 tags: RunTask would get 51",
    ),
    pytest.param({"tags": {"aws:team": "x"}}, "tags", "aws: prefix is reserved", "all", id="aws: prefix"),
    pytest.param({"tags": {"AWS:team": "x"}}, "tags", "reserved", "all", id="AWS: prefix in capitals"),
    pytest.param({"tags": {"k" * 129: "x"}}, "tags", "1 to 128", "all", id="key over 128"),
    pytest.param({"tags": {"k": "v" * 257}}, "tags", "over 256", "all", id="value over 256"),
    pytest.param({"tags": {"team#1": "x"}}, "tags", "'#'", "all", id="'#' is outside ECS's tag pattern"),
    pytest.param(
        {"tags": {"odm-operator.io/job-name": "x"}}, "tags", "operator's own", "all", id="our prefix"
    ),
    pytest.param({"region": "us-east"}, "region", "region name", "all", id="bad region"),
    pytest.param({"cluster": "odm cluster"}, "cluster", "255 letters", "all", id="space in cluster name"),
    pytest.param(
        {"capacity_provider": "FARGATE"},
        "capacity_provider",
        "Fargate provider",
        "existing",
        id="FARGATE for ec2",
    ),
    pytest.param({"log_group": "odm logs"}, "log_group", "512", "all", id="space in log group"),
    pytest.param(
        {"log_stream_prefix": "a:b"}, "log_stream_prefix", "':'", "all", id="colon in stream prefix"
    ),
]


@pytest.mark.parametrize(("changes", "setting", "fragment", "scope"), CASES)
def test_a_broken_setting_is_named_with_its_scope(changes, setting, fragment, scope):
    problems = [
        p for p in check_settings(settings(**changes)) if p.setting == setting and fragment in p.message
    ]
    assert problems, [str(p) for p in check_settings(settings(**changes))]
    assert problems[0].scope == scope


def test_good_settings_have_no_problem():
    assert check_settings(settings(tags={"team": "mapping", "cost center": "a/b+c=d@e"})) == []


def test_the_problem_names_the_env_var_and_the_helm_value():
    (problem,) = [p for p in check_settings(settings(execution_role_arn=None))]
    assert "ODM_OPERATOR_EXECUTION_ROLE_ARN" in str(problem) and "config.executionRoleArn" in str(problem)


SCOPED = [
    pytest.param({"type": "fargate"}, {"subnets": []}, ["subnets"], id="Fargate job needs subnets"),
    pytest.param({"type": "ec2"}, {"subnets": []}, ["subnets"], id="managed ec2 job needs subnets"),
    pytest.param(
        {"type": "ec2", "provider": "mine"}, {"subnets": []}, [], id="ec2 on an existing provider does not"
    ),
    pytest.param({"type": "ec2"}, {"execution_role_arn": None}, [], id="ec2 awslogs uses the instance role"),
    pytest.param(
        {"type": "fargate"}, {"execution_role_arn": None}, ["execution_role_arn"], id="Fargate awslogs does"
    ),
    pytest.param(
        {"type": "ec2", "provider": "p"}, {"tags": {"aws:x": "y"}}, ["tags"], id="tags concern every job"
    ),
]


@pytest.mark.parametrize(("capacity", "changes", "expected"), SCOPED)
def test_only_the_jobs_that_need_a_setting_are_stopped_by_it(capacity, changes, expected):
    s = settings(**changes)
    spec = parse_spec(job(spec__capacity=capacity, spec__resources={"cpu": 4, "memory": "16Gi"})["spec"])
    assert [p.setting for p in problems_for(spec, s, check_settings(s))] == expected


def test_a_job_needing_a_broken_setting_fails_at_once_without_an_attempt():
    spec = parse_spec(job()["spec"])
    view = plan.JobView("ns", "j", "uid", 1, spec, {}, config_errors=("setting subnets (...): is empty",))
    decision = plan.decide(view, None, datetime(2026, 1, 1, tzinfo=UTC), plan.Timing())
    assert (decision.status["phase"], decision.status["reason"]) == ("Failed", "InvalidConfiguration")
    assert "setting subnets" in decision.status["message"]
    assert decision.actions == [], "no Start: zero RunTask"


MIRROR = "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        pytest.param(
            "opendronemap/odm:3.6.0", f"{MIRROR}/opendronemap/odm:3.6.0", id="Docker Hub user image"
        ),
        pytest.param("ubuntu:24.04", f"{MIRROR}/library/ubuntu:24.04", id="official image under library/"),
        pytest.param(
            "docker.io/opendronemap/odm:gpu", f"{MIRROR}/opendronemap/odm:gpu", id="docker.io spelled"
        ),
        pytest.param(
            "public.ecr.aws/aws-cli/aws-cli:2", "public.ecr.aws/aws-cli/aws-cli:2", id="ECR Public kept"
        ),
        pytest.param("ghcr.io/me/odm:1", "ghcr.io/me/odm:1", id="another registry kept"),
    ],
)
def test_the_image_mirror_takes_docker_hub_images_only(image, expected):
    from odm_operator.plan.desired import mirrored

    assert mirrored(image, MIRROR) == expected
    assert mirrored(image, None) == image


def test_a_running_attempt_is_tracked_to_its_end_even_with_broken_settings():
    spec = parse_spec(job()["spec"])
    status = {
        "phase": "Running",
        "attempts": [{"number": 1, "taskArn": "arn:t/1"}],
        "aws": {"cluster": "odm"},
    }
    view = plan.JobView("ns", "j", "uid", 1, spec, status, config_errors=("setting subnets (...): is empty",))
    decision = plan.decide(view, None, datetime(2026, 1, 1, tzinfo=UTC), plan.Timing())
    assert decision.status["phase"] == "Running"
    assert [type(a).__name__ for a in decision.actions] == ["Watch"]
