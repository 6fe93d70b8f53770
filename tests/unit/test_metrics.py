"""The metrics: AWS calls counted through botocore's own events on real clients (answers injected at the HTTP
layer, so botocore parses and retries them as it would AWS's), job statuses, handler errors and the endpoint."""

from __future__ import annotations

import json
import socket
import urllib.request

import boto3
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from prometheus_client import REGISTRY

from odm_operator import metrics
from odm_operator.aws.clients import make_clients


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Answers:
    """A ``before-send`` handler that answers requests from a script instead of the network."""

    def __init__(self, *answers: tuple[int, dict] | Exception):
        self.answers = list(answers)
        self.sent = 0

    def __call__(self, request, **_):
        self.sent += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        raw = _Raw(json.dumps(body).encode())
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.1"}, raw)


class _Raw:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_):
        yield self.data


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0)


def ecs_client(attempts: int = 3, answers: Answers | None = None):
    client = boto3.session.Session(region_name="us-east-1").client(
        "ecs",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="https://ecs.example.invalid",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )
    if answers is not None:
        client.meta.events.register("before-send", answers)
    return metrics.instrument(client)


THROTTLED = (400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
DENIED = (400, {"__type": "AccessDeniedException", "message": "not authorized"})
CLUSTERS = (200, {"clusters": [], "failures": []})


def test_a_throttled_call_that_succeeds_on_retry_counts_one_success_and_one_throttle():
    calls = value(
        "odm_operator_aws_calls_total", service="ecs", operation="DescribeClusters", outcome="success"
    )
    throttles = value("odm_operator_aws_throttles_total", service="ecs", operation="DescribeClusters")
    timed = value("odm_operator_aws_call_duration_seconds_count", service="ecs", operation="DescribeClusters")
    answers = Answers(THROTTLED, CLUSTERS)
    ecs_client(answers=answers).describe_clusters(clusters=["odm"])
    assert answers.sent == 2
    assert (
        value("odm_operator_aws_calls_total", service="ecs", operation="DescribeClusters", outcome="success")
        == calls + 1
    )
    assert (
        value("odm_operator_aws_throttles_total", service="ecs", operation="DescribeClusters")
        == throttles + 1
    )
    assert (
        value("odm_operator_aws_call_duration_seconds_count", service="ecs", operation="DescribeClusters")
        == timed + 1
    )


def test_a_failed_call_counts_under_its_aws_error_code():
    before = value(
        "odm_operator_aws_calls_total", service="ecs", operation="RunTask", outcome="AccessDeniedException"
    )
    with pytest.raises(ClientError):
        ecs_client(answers=Answers(DENIED)).run_task(taskDefinition="odm-x")
    after = value(
        "odm_operator_aws_calls_total", service="ecs", operation="RunTask", outcome="AccessDeniedException"
    )
    assert after == before + 1


def test_a_call_that_never_got_an_answer_counts_under_the_exception():
    labels = {"service": "ecs", "operation": "StopTask", "outcome": "EndpointConnectionError"}
    before = value("odm_operator_aws_calls_total", **labels)
    with pytest.raises(EndpointConnectionError):
        ecs_client(attempts=1, answers=Answers(EndpointConnectionError(endpoint_url="x"))).stop_task(task="t")
    assert value("odm_operator_aws_calls_total", **labels) == before + 1


def test_the_shared_clients_are_instrumented(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients = make_clients("us-east-1")
    clients.ecs.meta.events.register("before-send", Answers(CLUSTERS))
    labels = {"service": "ecs", "operation": "DescribeClusters", "outcome": "success"}
    before = value("odm_operator_aws_calls_total", **labels)
    clients.ecs.describe_clusters(clusters=["odm"])
    assert value("odm_operator_aws_calls_total", **labels) == before + 1


def job(uid: str, created: str = "2026-01-01T00:00:00Z") -> dict:
    return {"metadata": {"uid": uid, "namespace": "n", "name": uid, "creationTimestamp": created}}


def test_job_statuses_give_phases_attempts_finished_jobs_and_durations():
    body = job("uid-metrics-1")
    running_before = value("odm_operator_jobs", phase="Running")
    succeeded_before = value("odm_operator_jobs", phase="Succeeded")
    attempts_before = value("odm_operator_attempts_total")
    finished_before = value("odm_operator_jobs_finished_total", phase="Succeeded", reason="Completed")
    durations_before = value("odm_operator_job_duration_seconds_sum", phase="Succeeded")

    running = {"phase": "Running", "startTime": "2026-01-01T00:10:00Z", "attempts": [{"number": 1}]}
    metrics.observe_job(body, {}, running)
    assert value("odm_operator_jobs", phase="Running") == running_before + 1
    assert value("odm_operator_attempts_total") == attempts_before + 1

    done = {**running, "phase": "Succeeded", "reason": "Completed", "completionTime": "2026-01-01T01:10:00Z"}
    metrics.observe_job(body, running, done)
    metrics.observe_job(body, done, done)  # a later pass (or a restarted operator) counts nothing twice
    assert value("odm_operator_jobs", phase="Running") == running_before
    assert value("odm_operator_jobs", phase="Succeeded") == succeeded_before + 1
    assert value("odm_operator_attempts_total") == attempts_before + 1
    assert (
        value("odm_operator_jobs_finished_total", phase="Succeeded", reason="Completed")
        == finished_before + 1
    )
    assert value("odm_operator_job_duration_seconds_sum", phase="Succeeded") == durations_before + 3600

    metrics.forget_job("uid-metrics-1")
    assert value("odm_operator_jobs", phase="Succeeded") == succeeded_before


def test_a_job_that_never_started_is_timed_from_its_creation():
    before = value("odm_operator_job_duration_seconds_sum", phase="Failed")
    failed = {"phase": "Failed", "reason": "InvalidSpec", "completionTime": "2026-01-01T00:00:30Z"}
    metrics.observe_job(job("uid-metrics-2"), {"phase": "Pending"}, failed)
    assert value("odm_operator_job_duration_seconds_sum", phase="Failed") == before + 30
    metrics.forget_job("uid-metrics-2")


def test_every_phase_is_reported_even_at_zero():
    families = {f.name: f for f in REGISTRY.collect()}
    phases = {s.labels["phase"] for s in families["odm_operator_jobs"].samples}
    assert phases == set(metrics.PHASES)


def test_handler_errors_are_counted_by_type_and_still_raised():
    @metrics.timed_handler("reconcile")
    def failing():
        raise KeyError("x")

    before = value("odm_operator_reconcile_errors_total", handler="reconcile", error="KeyError")
    passes = value("odm_operator_reconcile_duration_seconds_count", handler="reconcile")
    with pytest.raises(KeyError):
        failing()
    assert value("odm_operator_reconcile_errors_total", handler="reconcile", error="KeyError") == before + 1
    assert value("odm_operator_reconcile_duration_seconds_count", handler="reconcile") == passes + 1


def test_a_poll_is_timed_and_publishes_the_tracked_tasks():
    class Tracker:
        active = 7

        @metrics.timed_poll
        def poll(self):
            return "polled"

    before = value("odm_operator_tracker_poll_duration_seconds_count")
    assert Tracker().poll() == "polled"
    assert value("odm_operator_tracker_poll_duration_seconds_count") == before + 1
    assert value("odm_operator_tracked_tasks") == 7


def test_the_endpoint_serves_the_metrics_once_per_process_and_port_zero_turns_it_off():
    assert metrics.serve(0) is None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    served = metrics.serve(port, "127.0.0.1")
    assert metrics.serve(port + 1, "127.0.0.1") == served  # already serving: the first port stays
    with urllib.request.urlopen(f"http://127.0.0.1:{served}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert "odm_operator_build_info" in text and "odm_operator_aws_calls_total" in text
