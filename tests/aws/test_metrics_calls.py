"""AWS calls are counted through botocore's own events on real clients talking to the AWS emulator: throttles the
emulator answers are retried by botocore and counted once each, failures under their AWS error code."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from prometheus_client import REGISTRY

from odm_operator import metrics
from odm_operator.aws.clients import make_clients
from odm_sandbox.aws.faults import FaultRule


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def ecs_client(endpoint: str, attempts: int = 3):
    client = boto3.session.Session(region_name="us-east-1").client(
        "ecs",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url=endpoint,
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )
    return metrics.instrument(client)


def test_a_throttled_call_that_succeeds_on_retry_counts_one_success_and_one_throttle(aws):
    labels = {"service": "ecs", "operation": "DescribeClusters"}
    calls = value("odm_operator_aws_calls_total", outcome="success", **labels)
    throttles = value("odm_operator_aws_throttles_total", **labels)
    timed = value("odm_operator_aws_call_duration_seconds_count", **labels)
    aws.faults.add(FaultRule("ecs:DescribeClusters", code="ThrottlingException", status=400, count=1))
    ecs_client(aws.endpoint_url).describe_clusters(clusters=["odm"])
    assert aws.counters.snapshot()["calls"]["ecs:DescribeClusters"] == 2, "botocore retried the throttle"
    assert value("odm_operator_aws_calls_total", outcome="success", **labels) == calls + 1
    assert value("odm_operator_aws_throttles_total", **labels) == throttles + 1
    assert value("odm_operator_aws_call_duration_seconds_count", **labels) == timed + 1


def test_a_failed_call_counts_under_its_aws_error_code(aws):
    labels = {"service": "ecs", "operation": "RunTask", "outcome": "AccessDeniedException"}
    before = value("odm_operator_aws_calls_total", **labels)
    aws.faults.add(FaultRule("ecs:RunTask", code="AccessDeniedException", status=400, count=1))
    with pytest.raises(ClientError):
        ecs_client(aws.endpoint_url).run_task(taskDefinition="odm-x")
    assert value("odm_operator_aws_calls_total", **labels) == before + 1


def test_a_call_that_never_got_an_answer_counts_under_the_exception():
    labels = {"service": "ecs", "operation": "StopTask", "outcome": "EndpointConnectionError"}
    before = value("odm_operator_aws_calls_total", **labels)
    with pytest.raises(EndpointConnectionError):
        ecs_client("http://127.0.0.1:9", attempts=1).stop_task(task="t")  # nothing listens on port 9
    assert value("odm_operator_aws_calls_total", **labels) == before + 1


def test_the_shared_clients_are_instrumented(aws, monkeypatch):
    for key, val in aws.env().items():
        monkeypatch.setenv(key, val)
    clients = make_clients("us-east-1")
    labels = {"service": "ecs", "operation": "DescribeClusters", "outcome": "success"}
    before = value("odm_operator_aws_calls_total", **labels)
    clients.ecs.describe_clusters(clusters=["odm"])
    assert value("odm_operator_aws_calls_total", **labels) == before + 1
