"""Gateway tests: the operator's aws/ code against the AWS emulator over HTTP with real boto3 clients."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from odm_sandbox.aws import AwsSandbox


@pytest.fixture(scope="package")
def aws_sandbox():
    with AwsSandbox(time_scale=600, quotas=False) as sandbox:
        yield sandbox


@pytest.fixture
def aws(aws_sandbox: AwsSandbox):
    aws_sandbox.reset()
    return aws_sandbox


@pytest.fixture
def client(aws: AwsSandbox):
    def make(service: str):
        return boto3.client(
            service,
            endpoint_url=aws.endpoint_url,
            region_name=aws.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
        )

    return make
