"""Settings bound cost: a job outside them fails with PolicyViolation naming the field and the setting."""

import pytest

from odm_operator.api.validation import parse_spec
from odm_operator.plan.policy import check_policy
from odm_operator.settings import Settings

BASE = {"input": {"s3Uri": "s3://in-b/x/"}, "output": {"s3Uri": "s3://out-b/x/"}}


@pytest.mark.parametrize(
    ("spec", "settings", "path", "setting"),
    [
        (
            {"capacity": {"type": "ec2", "spot": True}},
            {"spot_allowed": False},
            "spec.capacity.spot",
            "spotAllowed",
        ),
        (
            {"resources": {"cpu": 4, "memory": "16Gi", "gpu": 1}},
            {"gpu_allowed": False},
            "spec.resources.gpu",
            "gpuAllowed",
        ),
        (
            {"capacity": {"type": "ec2"}},
            {"manage_capacity": False},
            "spec.capacity.provider",
            "manageCapacity",
        ),
        (
            {"capacity": {"type": "ec2", "maxInstances": 50}},
            {"max_instances_ceiling": 10},
            "spec.capacity.maxInstances",
            "maxInstancesCeiling",
        ),
        (
            {"capacity": {"type": "ec2", "instanceTypes": ["p3.2xlarge"]}},
            {"allowed_instance_families": ["m6i"]},
            "spec.capacity.instanceTypes",
            "allowedInstanceFamilies",
        ),
    ],
)
def test_violations_name_the_field_and_the_setting(spec, settings, path, setting):
    errors = check_policy(parse_spec({**BASE, **spec}), Settings(**settings))
    assert [e.path for e in errors] == [path]
    assert setting in errors[0].message


@pytest.mark.parametrize(
    ("spec", "settings"),
    [
        ({"capacity": {"type": "ec2", "provider": "team-cp"}}, {"manage_capacity": False}),
        ({"capacity": {"type": "fargate", "spot": True}}, {"manage_capacity": False}),
        (
            {"capacity": {"type": "ec2", "instanceTypes": ["m6i.large"]}},
            {"allowed_instance_families": ["m6i"]},
        ),
        ({"capacity": {"type": "ec2", "maxInstances": 10}}, {"max_instances_ceiling": 10}),
    ],
)
def test_jobs_inside_the_policy_pass(spec, settings):
    assert check_policy(parse_spec({**BASE, **spec}), Settings(**settings)) == []


from odm_operator.plan.policy import Peer, quota_wait  # noqa: E402
from odm_operator.settings import NamespacePolicy  # noqa: E402

TEAM = NamespacePolicy(
    allowed_images=["opendronemap/odm:3.*"],
    allowed_input_prefixes=["s3://raw/team/"],
    allowed_output_prefixes=["s3://products/team/"],
    allowed_task_roles=["arn:aws:iam::111122223333:role/team-*"],
    max_cpu=8,
    max_memory="32Gi",
    max_gpu=0,
)
GOOD = {
    "input": {"s3Uri": "s3://raw/team/flight-1/"},
    "output": {"s3Uri": "s3://products/team/flight-1/"},
    "taskRoleArn": "arn:aws:iam::111122223333:role/team-jobs",
    "resources": {"cpu": 8, "memory": "32Gi"},
}


@pytest.mark.parametrize(
    ("change", "path", "rule"),
    [
        ({"odm": {"image": "opendronemap/odm:2.9"}}, "spec.odm.image", "allowedImages"),
        ({"input": {"s3Uri": "s3://raw/other/"}}, "spec.input.s3Uri", "allowedInputPrefixes"),
        ({"input": {"s3Uri": "s3://raw/teamX/"}}, "spec.input.s3Uri", "allowedInputPrefixes"),
        ({"output": {"s3Uri": "s3://products/"}}, "spec.output.s3Uri", "allowedOutputPrefixes"),
        ({"taskRoleArn": "arn:aws:iam::111122223333:role/admin"}, "spec.taskRoleArn", "allowedTaskRoles"),
        ({"resources": {"cpu": 16, "memory": "32Gi"}}, "spec.resources.cpu", "maxCpu"),
        ({"resources": {"cpu": 8, "memory": "64Gi"}}, "spec.resources.memory", "maxMemory"),
        (
            {"resources": {"cpu": 8, "memory": "32Gi", "gpu": 1}, "odm": {"image": "opendronemap/odm:3.6.0"}},
            "spec.resources.gpu",
            "maxGpu",
        ),
    ],
)
def test_namespace_rules_name_the_field_and_the_rule(change, path, rule):
    settings = Settings(namespace_policies={"team": TEAM})
    errors = check_policy(parse_spec({**GOOD, **change}), settings, "team")
    assert [e.path for e in errors] == [path]
    assert rule in errors[0].message and "namespace team" in errors[0].message


def test_a_job_inside_its_namespace_policy_passes_and_other_namespaces_are_free():
    settings = Settings(namespace_policies={"team": TEAM})
    assert check_policy(parse_spec(GOOD), settings, "team") == []
    assert check_policy(parse_spec({**GOOD, "odm": {"image": "x/y:1"}}), settings, "elsewhere") == []


def test_the_star_policy_applies_to_namespaces_without_their_own():
    settings = Settings(namespace_policies={"*": NamespacePolicy(spot_allowed=False)})
    spec = parse_spec({**GOOD, "capacity": {"type": "fargate", "spot": True}})
    assert [e.path for e in check_policy(spec, settings, "any")] == ["spec.capacity.spot"]


def peer(name, created, active=True, started=False):
    return Peer(name, created, active, started)


@pytest.mark.parametrize(
    ("me", "peers", "waits", "reason"),
    [
        (
            "c",
            [peer("a", "1", started=True), peer("b", "2", started=True)],
            True,
            "two running fill the quota",
        ),
        (
            "c",
            [peer("a", "1", started=True), peer("b", "2", active=False)],
            False,
            "a finished job frees a slot",
        ),
        ("c", [peer("a", "1", started=True), peer("b", "2")], True, "an older waiting job goes first"),
        ("b", [peer("a", "1", started=True), peer("c", "3")], False, "a younger waiting job does not block"),
        (
            "a",
            [peer("b", "2", started=True), peer("c", "3", started=True)],
            True,
            "running jobs count whatever age",
        ),
    ],
)
def test_the_quota_admits_jobs_in_creation_order(me, peers, waits, reason):
    settings = Settings(namespace_policies={"q": NamespacePolicy(max_concurrent_jobs=2)})
    created = {"a": "1", "b": "2", "c": "3"}[me]
    assert (quota_wait(settings, "q", me, created, peers) is not None) == waits, reason
