"""An AWS error retried without counting is visible: after three failed passes in a row the job carries an
AwsRetrying condition naming the call, the error code and the tries; once the call succeeds it turns False."""

from __future__ import annotations

import urllib.request

from .conftest import E2E, odmjob


def condition(e2e: E2E, ns: str, name: str) -> dict | None:
    conditions = ((e2e.get(ns, name) or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "AwsRetrying"), None)


def retrying_metric(e2e: E2E) -> float:
    url = f"http://127.0.0.1:{e2e.stack.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        lines = response.read().decode().splitlines()
    return float(
        next(line.split()[1] for line in lines if line.startswith("odm_operator_jobs_aws_retrying "))
    )


def test_a_persistent_uncounted_error_shows_in_a_condition_and_clears(e2e: E2E):
    ns = e2e.namespace()
    # A task definition no other test registers (its own size), refused with an error the operator retries
    # without counting and botocore does not retry itself: each pass fails fast.
    rule = {"operation": "ecs:RegisterTaskDefinition", "code": "UpdateInProgressException", "status": 400}
    e2e.control("/faults", {"rules": [rule]})
    try:
        e2e.apply(odmjob("retrying", ns, resources={"cpu": 2, "memory": "13Gi"}))
        shown = e2e.eventually(
            lambda: (c := condition(e2e, ns, "retrying")) and c["status"] == "True" and c,
            60,
            "AwsRetrying=True",
        )
        assert shown["reason"] == "UpdateInProgressException"
        assert "RegisterTaskDefinition failed 3 times in a row" in shown["message"]
        assert e2e.get(ns, "retrying")["status"]["phase"] == "Starting", "not counted, not failed"
        assert retrying_metric(e2e) == 1.0, "and in the metrics"
    finally:
        e2e.control("/faults", {"rules": []})
    cleared = e2e.eventually(
        lambda: (c := condition(e2e, ns, "retrying")) and c["status"] == "False" and c,
        60,
        "AwsRetrying=False",
    )
    assert cleared["reason"] == "Recovered"
    assert retrying_metric(e2e) == 0.0
    assert e2e.wait_phase(ns, "retrying", "Succeeded", "Failed", timeout=90)["status"]["phase"] == "Succeeded"
