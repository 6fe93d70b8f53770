"""The Kubernetes API misbehaving: the emulator rejects a share of the operator's writes (409 conflicts and 500s on
its status patches, its finalizer patches and its Events) and drops every watch stream now and then; the operator
recovers and every job converges. Faults are rules of the API emulator (checked before any state changes, as a real
server fails), limited to the test's namespace.

KUBE_FAULT_JOBS sets the size of the mixed run (``make chaos`` runs it with 200).
"""

from __future__ import annotations

import os
import time

import pytest

from odm_operator import PLURAL

from ..chaos.harness import ChaosRun, Config
from ..chaos.ledger import TaskLedger
from .conftest import E2E, odmjob

pytestmark = pytest.mark.e2e

KUBE_FAULT_JOBS = int(os.environ.get("KUBE_FAULT_JOBS", "12"))
KUBE_FAULT_SEED = int(os.environ.get("KUBE_FAULT_SEED", "11"))


def test_with_a_share_of_writes_rejected_and_watches_dropped_every_job_converges(e2e: E2E):
    ns = e2e.namespace()
    config = Config(
        jobs=KUBE_FAULT_JOBS,
        seed=KUBE_FAULT_SEED,
        kube_conflicts=0.15,
        kube_errors=0.15,
        drop_watches=(0.5, 1.5),
        timeout=120,
    )
    report = ChaosRun(e2e.stack, ns, config).run()
    print(f"\nKubernetes faults: {report.summary()}")
    assert report.problems == [], "\n".join(report.problems)
    assert report.kube_faults > 0 and report.watch_drops > 0, "the faults were injected"


def test_a_job_deleted_before_the_operator_s_finalizer_landed_leaves_no_task(e2e: E2E):
    ns = e2e.namespace()
    # The operator adds its finalizer with a patch of the object before the first RunTask; while that patch keeps
    # failing, the job has none, and deleting it removes it at once: nothing would ever stop a task started for it.
    fault = e2e.stack.kube.faults.reject(
        verb="patch", resource=PLURAL, subresource="", namespace=ns, name="early", status=500, times=None
    )
    with TaskLedger(e2e.stack.aws) as ledger:
        try:
            e2e.apply(odmjob("early", ns))
            uid = e2e.get(ns, "early")["metadata"]["uid"]
            time.sleep(
                1.0
            )  # a window in which the operator could (wrongly) act on the job; not a wait for it
            e2e.kubectl("delete", "odmjob", "early", "-n", ns, "--wait=true", "--timeout=30s")
            e2e.wait_gone(ns, "early")
        finally:
            e2e.stack.kube.faults.remove(fault)
        time.sleep(1.0)  # a late pass would start its task within this window
        assert ledger.running({uid}) == [], "a task runs for a job that is gone"
        assert ledger.of(uid) == [], "no task may be started for a job the operator cannot finalize"
