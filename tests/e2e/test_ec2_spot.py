"""EC2 Spot: the reclaimed instance takes its standalone task with it (no SpotInterruption stop code, no exit
codes, reason "Host EC2 (instance i-...) terminated."); the operator retries it, counted against backoffLimit."""

from __future__ import annotations

from .conftest import E2E, odmjob


def test_an_ec2_spot_host_termination_is_retried_and_then_succeeds(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("ec2-spot", ns, capacity={"type": "ec2", "spot": True})
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{ns}-ec2-spot", 120)
    e2e.apply(obj)
    e2e.wait_phase(ns, "ec2-spot", "Running", timeout=90)
    assert e2e.control("/interrupt", {"namespace": ns, "name": "ec2-spot"}).get("taskArn")
    status = e2e.wait_phase(ns, "ec2-spot", "Succeeded", "Failed", timeout=120)["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    first, second = status["attempts"]
    assert first["reason"] == "SpotInterruption"
    assert first["stoppedReason"].startswith("Host EC2 (instance i-")
    assert first.get("stopCode") != "SpotInterruption", "EC2 standalone tasks are not stopped by draining"
    assert second["reason"] == "Succeeded" and second["taskArn"] != first["taskArn"]
