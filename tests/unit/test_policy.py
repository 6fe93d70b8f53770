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
