"""tracking: events end to end: the operator ensures its rule and queue, follows ECS Task State Change events that
arrive twice and out of order, keeps DescribeTasks to its sweep while tasks run, and its sweep finishes the jobs
whose events are lost. No job is stuck, and no job's phase or task status ever goes backwards."""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from odm_operator.plan.task_events import rank
from odm_sandbox.aws import Timings
from odm_sandbox.stack import Stack
from tests.e2e.conftest import E2E, TIME_SCALE, odmjob

pytestmark = pytest.mark.e2e
JOBS = 20
# Short in real seconds, so the test sees several sweeps; a real cluster would use minutes (default 300).
SWEEP_SECONDS = 2.0
PHASES = ["Pending", "Starting", "Running", "Succeeded"]
# ODM runs ~10 real seconds on the 30-image dataset: long enough for a steady state to measure.
ODM_PER_IMAGE_S = 10 * TIME_SCALE / 30


@pytest.fixture(scope="module")
def events_stack(tmp_path_factory: pytest.TempPathFactory):
    settings = {"ODM_OPERATOR_TRACKING": "events", "ODM_OPERATOR_EVENTS_SWEEP_SECONDS": str(SWEEP_SECONDS)}
    with Stack(
        tmp_path_factory.mktemp("events-sandbox"), time_scale=TIME_SCALE, settings=settings
    ) as running:
        yield running


class History:
    """Every version of the namespace's ODMJobs, from a real watch: (phase, taskArn, aws.lastStatus) per job."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.seen: dict[str, list[tuple[str | None, str | None, str | None]]] = {}
        self._api = kubernetes.client.CustomObjectsApi(
            kubernetes.config.new_client_from_config(str(kubeconfig))
        )
        self._namespace = namespace
        self._watch = kubernetes.watch.Watch()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        stream = self._watch.stream(
            self._api.list_namespaced_custom_object,
            "odm-operator.io",
            "v1alpha1",
            self._namespace,
            "odmjobs",
            timeout_seconds=300,
        )
        try:
            for event in stream:
                self._record(event["object"])
        except Exception:
            if not self._stopped:
                raise  # the stack stopping under a stopped watch is not a failure

    def _record(self, obj: dict[str, Any]) -> None:
        status = obj.get("status") or {}
        aws = status.get("aws") or {}
        entry = (status.get("phase"), aws.get("taskArn"), aws.get("lastStatus"))
        versions = self.seen.setdefault(obj["metadata"]["name"], [])
        if not versions or versions[-1] != entry:
            versions.append(entry)

    def stop(self) -> None:
        self._stopped = True
        self._watch.stop()


def test_events_lost_repeated_and_reordered_still_finish_every_job_in_order_with_reads_kept_to_the_sweep(
    events_stack: Stack, tmp_path: Path
):
    e2e = E2E(events_stack, tmp_path)
    aws = events_stack.aws
    # Duplicates and reordering while the tasks start; counted below, so the run proves it met them.
    e2e.control("/event-faults", {"drop": 0.1, "duplicate": 0.3, "reorder": 0.3, "seed": 7})
    aws.set_timings(replace(Timings(), odm_per_image_s=ODM_PER_IMAGE_S))
    ns = e2e.namespace()
    history = History(events_stack.kubeconfig, ns)
    try:
        jobs = [odmjob(f"j{i:02d}", ns) for i in range(JOBS)]
        e2e.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(job) for job in jobs))

        def all_running() -> bool:
            listed = e2e.list(ns)
            return len(listed) == JOBS and all(
                (j.get("status") or {}).get("phase") == "Running" for j in listed.values()
            )

        e2e.eventually(all_running, 90, "not every job reached Running")
        faults = e2e.control("/event-faults")["counts"]
        assert faults["duplicated"] > 0 and faults["reordered"] > 0, faults

        # The steady state: every task runs ODM. Only the sweep describes tasks.
        before = e2e.calls()
        started = time.monotonic()
        time.sleep(3 * SWEEP_SECONDS)  # a measurement window, not a wait for a condition
        after = e2e.calls()
        window = time.monotonic() - started
        assert aws.agent_status()["activeTasks"] == JOBS, "the window was not all steady state"
        describe = after.get("ecs:DescribeTasks", 0) - before.get("ecs:DescribeTasks", 0)
        sweeps = math.ceil(window / SWEEP_SECONDS) + 1  # one more for the window's edges
        assert describe <= sweeps * math.ceil(JOBS / 100), f"{describe} DescribeTasks in {window:.1f} s"
        # Nothing changes while ODM runs, so one long poll may span the window; the events before it were consumed.
        assert after.get("sqs:DeleteMessageBatch", 0) > 0, "no event was applied and deleted"

        # From now on every event is lost: only the sweep can see the tasks stop.
        e2e.control("/event-faults", {"drop": 1.0})
        dropped_before = e2e.control("/event-faults")["counts"]["dropped"]

        def all_done() -> bool:
            listed = e2e.list(ns)
            return all((j.get("status") or {}).get("phase") == "Succeeded" for j in listed.values())

        e2e.eventually(all_done, 60, "not every job succeeded once events were lost")
        assert e2e.control("/event-faults")["counts"]["dropped"] > dropped_before, "no event was lost"
    finally:
        e2e.control("/event-faults", {})
        aws.set_timings(Timings())

    e2e.eventually(
        lambda: all(h and h[-1][0] == "Succeeded" for h in history.seen.values()), 10, "watch lags"
    )
    history.stop()
    assert len(history.seen) == JOBS
    for name, versions in history.seen.items():
        phases = [p for p, _, _ in versions if p]
        assert phases == sorted(phases, key=PHASES.index), f"{name}: phases went back: {phases}"
        statuses = [s for _, _, s in versions if s]
        ranks = [rank(s) for s in statuses]
        assert ranks == sorted(ranks), f"{name}: task status went back: {statuses}"
        assert len({arn for _, arn, _ in versions if arn}) == 1, f"{name}: more than one task"


def rules_of(stack: Stack) -> list[dict[str, Any]]:
    return stack.client("events").list_rules(NamePrefix="odm-operator-")["Rules"]


def test_the_operator_ensured_a_rule_for_its_cluster_and_a_queue_only_that_rule_may_send_to(
    events_stack: Stack,
):
    rules = rules_of(events_stack)
    assert [r["Name"] for r in rules] == ["odm-operator-task-state"]
    pattern = json.loads(rules[0]["EventPattern"])
    assert pattern["source"] == ["aws.ecs"] and pattern["detail-type"] == ["ECS Task State Change"]
    assert [a.rsplit("/", 1)[-1] for a in pattern["detail"]["clusterArn"]] == ["odm"]
    sqs = events_stack.client("sqs")
    url = sqs.get_queue_url(QueueName="odm-operator-task-state")["QueueUrl"]
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == rules[0]["Arn"]
