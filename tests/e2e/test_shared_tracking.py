"""One shared tracker for every job: DescribeTasks calls per poll interval stay at ceil(active / 100)."""

from __future__ import annotations

import json
import time

import pytest

from odm_sandbox.stack import SANDBOX_POLL_SECONDS

from .conftest import E2E, odmjob

pytestmark = pytest.mark.e2e
JOBS = 150


def test_150_concurrent_jobs_cost_at_most_two_describe_tasks_per_poll_interval(e2e: E2E):
    ns = e2e.namespace()
    dataset = e2e.put_dataset(f"{ns}-big", 200)
    jobs = []
    for i in range(JOBS):
        obj = odmjob(f"j{i:03d}", ns)
        obj["spec"]["input"]["s3Uri"] = dataset
        jobs.append(obj)
    e2e.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(job) for job in jobs))
    e2e.eventually(
        lambda: e2e.stack.aws.agent_status()["activeTasks"] >= JOBS, 120, "not every task ran at once"
    )
    assert e2e.stack.aws.agent_status()["activeTasks"] == JOBS, "all tasks run at once"
    before = e2e.calls()
    started = time.monotonic()
    time.sleep(3.0)  # a measurement window, not a wait for a condition
    after = e2e.calls()
    intervals = (time.monotonic() - started) / SANDBOX_POLL_SECONDS
    describe = after.get("ecs:DescribeTasks", 0) - before.get("ecs:DescribeTasks", 0)
    logs = after.get("logs:FilterLogEvents", 0) - before.get("logs:FilterLogEvents", 0)
    # ceil(150 / 100) = 2 per interval; one more interval for the window's edges.
    assert describe <= 2 * (intervals + 1), f"{describe} DescribeTasks calls in {intervals:.1f} intervals"
    assert describe >= 2, "the tracker polls"
    assert logs <= 2 * (intervals + 1), f"{logs} FilterLogEvents calls in {intervals:.1f} intervals"
    assert logs >= 2, "progress is read from the logs"
    e2e.kubectl("delete", "odmjobs", "--all", "-n", ns, "--wait=true", "--timeout=120s")
