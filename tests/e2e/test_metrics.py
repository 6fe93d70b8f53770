"""The operator's /metrics endpoint, scraped during a sandbox run, reports the jobs and the AWS calls the run made,
and its AWS call counts agree with what the AWS emulator received."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import E2E, odmjob

pytestmark = pytest.mark.e2e
Samples = dict[tuple[str, frozenset], float]
# Operations the operator makes only for a new job (the tracker's DescribeTasks runs all the time).
PER_JOB = (("ecs", "RunTask"), ("ecs", "RegisterTaskDefinition"), ("s3", "ListObjectsV2"))


def scrape(e2e: E2E, wait: float = 30) -> Samples:
    """The samples on the operator's endpoint (which opens once the operator has started)."""
    url = f"http://127.0.0.1:{e2e.stack.metrics_port}/metrics"
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
            break
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            e2e._check_operator()
            time.sleep(0.1)
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def test_metrics_report_the_jobs_and_aws_calls_of_a_run(e2e: E2E):
    e2e.quiet()
    ns = e2e.namespace()
    before, calls_before = scrape(e2e), e2e.calls()

    # One job with resources no other test uses (so a task definition of its own is registered), one sized from
    # its dataset (an S3 listing) whose input prefix is empty (so it fails before RunTask).
    e2e.apply(odmjob("runs", ns, resources={"cpu": 2, "memory": "7Gi"}))
    empty = odmjob("empty", ns, dataset="empty")
    del empty["spec"]["resources"]
    e2e.apply(empty)
    ok = e2e.wait_phase(ns, "runs", "Succeeded", "Failed", timeout=60)
    failed = e2e.wait_phase(ns, "empty", "Succeeded", "Failed", timeout=60)
    assert ok["status"]["phase"] == "Succeeded"
    assert (failed["status"]["phase"], failed["status"]["reason"]) == ("Failed", "InputUnavailable")

    after = scrape(e2e)
    calls_after = e2e.calls()

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    # Jobs: both are known by phase, both finished (with their reasons) and were timed; attempts were recorded.
    assert total(after, "odm_operator_jobs", phase="Succeeded") >= 1
    assert total(after, "odm_operator_jobs", phase="Failed") >= 1
    assert grew("odm_operator_jobs_finished_total", phase="Succeeded") == 1
    assert grew("odm_operator_jobs_finished_total", phase="Failed", reason="InputUnavailable") == 1
    assert grew("odm_operator_job_duration_seconds_count") == 2
    assert grew("odm_operator_attempts_total") >= 2

    # AWS calls: what the operator counted is what the emulator received (throttled attempts included).
    for service, operation in PER_JOB:
        counted = grew("odm_operator_aws_calls_total", service=service, operation=operation)
        throttled = grew("odm_operator_aws_throttles_total", service=service, operation=operation)
        key = f"{service}:{operation}"
        received = calls_after.get(key, 0) - calls_before.get(key, 0)
        assert counted >= 1, f"{key}: the run made no call the metrics saw"
        assert counted + throttled == received, (
            f"{key}: operator counted {counted}+{throttled}, AWS got {received}"
        )
    assert grew("odm_operator_aws_calls_total", service="ecs", operation="RunTask", outcome="success") == 1
    assert (
        grew("odm_operator_aws_calls_total", service="ecs", operation="DescribeTasks", outcome="success") >= 1
    )
    assert grew("odm_operator_tracker_poll_duration_seconds_count") >= 1
    assert total(after, "odm_operator_build_info") == 1

    e2e.kubectl("delete", "odmjobs", "--all", "-n", ns, "--wait=true", "--timeout=60s")
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline
        and total(scrape(e2e), "odm_operator_jobs") > total(after, "odm_operator_jobs") - 2
    ):
        time.sleep(0.1)
    assert total(scrape(e2e), "odm_operator_jobs") == total(after, "odm_operator_jobs") - 2, (
        "deleted jobs are forgotten"
    )
