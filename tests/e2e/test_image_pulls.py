"""Docker Hub's anonymous pull limit: a task that fails to start with CannotPullContainerError / toomanyrequests
is retried (ImagePullThrottled, counted against backoffLimit) and runs once pulls work again."""

from __future__ import annotations

from .conftest import E2E, odmjob


def test_a_rate_limited_pull_is_retried_and_then_succeeds(e2e: E2E):
    ns = e2e.namespace()
    e2e.control("/pull-limit", {"enabled": True})
    try:
        # backoffLimit 10: room for the attempts made before the limit is lifted
        e2e.apply(odmjob("pulls", ns, backoffLimit=10))

        def throttled():
            attempts = ((e2e.get(ns, "pulls") or {}).get("status") or {}).get("attempts") or []
            return any(a.get("reason") == "ImagePullThrottled" for a in attempts)

        e2e.eventually(throttled, 60, "an attempt ending ImagePullThrottled")
    finally:
        e2e.control("/pull-limit", {"enabled": False})
    status = e2e.wait_phase(ns, "pulls", "Succeeded", "Failed", timeout=90)["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    first = status["attempts"][0]
    assert "toomanyrequests" in first["stoppedReason"] and first["stopCode"] == "TaskFailedToStart"
