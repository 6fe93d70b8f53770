"""An operator killed between RunTask and recording the task adopts that task on restart: no second task."""

from __future__ import annotations

import signal

import pytest

from .conftest import E2E, odmjob

pytestmark = pytest.mark.e2e


def test_sigkill_right_after_run_task_then_restart_runs_no_second_task(e2e: E2E):
    ns = e2e.namespace()
    # The first status write (the attempt recorded as in flight) goes through; the second (the task ARN) fails,
    # so the operator has called RunTask but status does not say which task it started.
    fault = e2e.stack.kube.faults.reject(
        verb="patch",
        resource="odmjobs",
        subresource="status",
        namespace=ns,
        name="crash",
        status=500,
        times=None,
        skip=1,
    )
    try:
        e2e.apply(odmjob("crash", ns))
        uid = e2e.eventually(lambda: e2e.get(ns, "crash"), 10, "job not created")["metadata"]["uid"]
        e2e.eventually(lambda: e2e.tasks_of(uid), 30, "RunTask was never called")
        assert len(e2e.tasks_of(uid)) == 1, "RunTask was called once"
        e2e.stack.kill_operator(signal.SIGKILL)
        status = e2e.get(ns, "crash")["status"]
        assert status["attempts"] == [{"number": 1}], "the attempt is in flight with no task recorded"
    finally:
        e2e.stack.kube.faults.remove(fault)
    e2e.stack.start_operator()
    status = e2e.wait_phase(ns, "crash", "Succeeded", "Failed", timeout=60)["status"]
    assert status["phase"] == "Succeeded", (status.get("reason"), status.get("message"))
    tasks = e2e.tasks_of(uid)
    assert len(tasks) == 1, "the restarted operator adopted the task instead of starting another"
    assert status["attempts"][0]["taskArn"] == tasks[0]["taskArn"]
