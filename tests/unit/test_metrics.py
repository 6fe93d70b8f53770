"""The metrics: job statuses, handler errors, polls and the endpoint. AWS call counting is tested against the AWS
emulator in tests/aws/test_metrics_calls.py."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client import REGISTRY

from odm_operator import metrics


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


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
