"""Secrets and data: no AWS credential comes from an ODMJob, products are private, containers get only the job's
task role."""

import json
import os

import pytest

from odm_operator.api.validation import parse_spec
from odm_operator.plan.admission import check_job
from odm_operator.plan.desired import STAGE_OUT_SCRIPT, JobRef, plan_job
from odm_operator.settings import Settings

from .helpers import job

SECRET_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"spec__credentials": {"accessKeyId": "AKIA..."}}, "spec.credentials"),
        ({"spec__env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": "x"}]}, "spec.env"),
        ({"spec__input": {"s3Uri": "s3://b-in/x/", "accessKey": "AKIA"}}, "spec.input.accessKey"),
        ({"spec__odm": {"options": {"aws-access-key": "AKIA"}}}, "spec.odm.options.aws-access-key"),
    ],
)
def test_an_odmjob_cannot_carry_aws_credentials(change, path):
    assert path in [e.path for e in check_job(job(**change), Settings())]


def _rendered(**spec_changes):
    obj = job(**spec_changes)
    return plan_job(
        parse_spec(obj["spec"]), Settings(task_role_arn="arn:aws:iam::1:role/odm-job"), JobRef("n", "j", "u")
    )


def test_no_container_gets_credentials_in_its_environment():
    desired = _rendered()
    text = json.dumps([desired.task_definition, desired.run_task])
    assert not any(name in text for name in SECRET_NAMES)


def test_products_are_written_private_without_acl_grants():
    assert "--acl" not in STAGE_OUT_SCRIPT and "grant" not in STAGE_OUT_SCRIPT.lower()


def test_the_job_role_is_the_task_role_of_every_container_and_nothing_else():
    desired = _rendered()
    assert desired.task_definition["taskRoleArn"] == "arn:aws:iam::1:role/odm-job"
    role = "arn:aws:iam::111122223333:role/odm-team"
    override = _rendered(spec__taskRoleArn=role).run_task["overrides"]
    assert override["taskRoleArn"] == role
    assert all("taskRoleArn" not in c for c in override["containerOverrides"])


def test_the_sandboxed_operator_does_not_inherit_the_developers_aws_environment(monkeypatch):
    from odm_sandbox.stack import operator_base_env

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", "https://ecs.eu-west-1.amazonaws.com")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    monkeypatch.setenv("HOME", "/home/dev")
    env = operator_base_env()
    aws = {k for k in env if k.startswith("AWS_")}
    assert aws == {"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"}
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert env["HOME"] == "/home/dev", "the rest of the environment is kept"
