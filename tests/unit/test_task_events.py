"""ECS Task State Change events applied once and never backwards (plan/task_events.py), and the tracker with
tracking: events (events applied as they come, DescribeTasks only as a sweep)."""

from __future__ import annotations

import json

import pytest

from odm_operator.plan.observed import ObservedTask, missing
from odm_operator.plan.task_events import (
    EventError,
    cluster_arn,
    decode,
    event_pattern,
    observe,
    queue_policy,
    supersedes,
)
from odm_operator.runtime.tracker import Tracker

ARN = "arn:aws:ecs:us-east-1:123456789012:task/odm/abc"
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/odm"


def detail(status: str, version: int | None, odm: str | None = None, exit_code: int | None = None) -> dict:
    out: dict = {"taskArn": ARN, "clusterArn": CLUSTER, "lastStatus": status, "startedBy": "odm/uid"}
    if version is not None:
        out["version"] = version
    if odm is not None:
        container = {"name": "odm", "lastStatus": odm}
        if exit_code is not None:
            container["exitCode"] = exit_code
        out["containers"] = [container]
    return out


def task(status: str, version: int | None, odm: str | None = None, tags: dict | None = None) -> ObservedTask:
    from odm_operator.plan.observed import from_describe

    body = detail(status, version, odm)
    if tags:
        body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    return from_describe(body)


@pytest.mark.parametrize(
    ("known", "candidate", "expected"),
    [
        pytest.param(None, task("PENDING", 2), True, id="nothing-known-takes-anything"),
        pytest.param(task("PENDING", 2), task("RUNNING", 4), True, id="a-higher-version-is-later"),
        pytest.param(
            task("RUNNING", 4), task("PENDING", 2), False, id="an-older-event-after-a-newer-is-dropped"
        ),
        pytest.param(
            task("RUNNING", 4), task("RUNNING", 4), True, id="the-same-version-is-the-same-state-again"
        ),
        pytest.param(
            task("RUNNING", 5, odm="STOPPED"),
            task("RUNNING", 4, odm="RUNNING"),
            False,
            id="a-lower-version-in-the-same-status-is-dropped",
        ),
        pytest.param(
            task("STOPPED", 9), task("RUNNING", 12), False, id="never-backwards-even-if-the-version-says-so"
        ),
        pytest.param(task("RUNNING", None), task("STOPPED", None), True, id="no-versions-lifecycle-forward"),
        pytest.param(
            task("STOPPED", None), task("RUNNING", None), False, id="no-versions-lifecycle-backwards"
        ),
        pytest.param(
            task("RUNNING", None, odm="STOPPED"),
            task("RUNNING", None, odm="RUNNING"),
            False,
            id="no-versions-a-container-never-goes-back",
        ),
        pytest.param(missing(ARN), task("STOPPED", 9), True, id="how-it-ended-beats-ecs-forgot-it"),
        pytest.param(task("STOPPED", 9), task("PROVISIONING", 1), False, id="runtasks-answer-after-the-stop"),
    ],
)
def test_an_observation_replaces_the_known_one_only_if_it_is_not_older(known, candidate, expected):
    assert supersedes(known, candidate) is expected


@pytest.mark.parametrize(
    ("known", "event", "expected"),
    [
        pytest.param(task("PENDING", 2), detail("RUNNING", 4), "RUNNING", id="newer-event-applied"),
        pytest.param(task("RUNNING", 4), detail("RUNNING", 4), None, id="duplicate-dropped"),
        pytest.param(task("RUNNING", 4), detail("PENDING", 2), None, id="reordered-older-dropped"),
        pytest.param(None, detail("PENDING", 2), "PENDING", id="first-news-of-a-task"),
    ],
)
def test_an_event_gives_the_observation_describe_tasks_would_or_nothing(known, event, expected):
    result = observe(event, known, "2026-01-01T00:00:00Z")
    assert (result.last_status if result else None) == expected
    if result is not None:
        assert result.version == event["version"] and result.observed_at == "2026-01-01T00:00:00Z"


def test_an_event_keeps_the_tags_it_does_not_carry():
    known = task("PENDING", 2, tags={"odm-operator.io/attempt": "2"})
    result = observe(detail("RUNNING", 3), known, "2026-01-01T00:00:00Z")
    assert result is not None and result.attempt == 2


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param("not json", "not JSON", id="garbage"),
        pytest.param("[]", "not a JSON object", id="a-list"),
        pytest.param(
            json.dumps({"source": "aws.s3", "detail-type": "Object Created"}), "source=", id="other-event"
        ),
        pytest.param(
            json.dumps({"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {}}),
            "taskArn",
            id="no-task",
        ),
    ],
)
def test_a_message_that_is_no_task_state_change_is_refused_with_the_reason(body, error):
    with pytest.raises(EventError, match=error):
        decode(body)


def test_the_rule_matches_the_operators_tasks_in_its_clusters_and_only_the_rule_may_send():
    pattern = event_pattern([CLUSTER, CLUSTER], "odm/")
    assert pattern["detail"] == {"clusterArn": [CLUSTER], "startedBy": [{"prefix": "odm/"}]}
    assert pattern["source"] == ["aws.ecs"] and pattern["detail-type"] == ["ECS Task State Change"]
    queue = "arn:aws:sqs:eu-west-1:111122223333:odm-operator-task-state"
    statement = queue_policy(queue, "arn:aws:events:eu-west-1:111122223333:rule/r")["Statement"][0]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Resource"] == queue
    assert statement["Condition"] == {
        "ArnEquals": {"aws:SourceArn": "arn:aws:events:eu-west-1:111122223333:rule/r"}
    }
    assert cluster_arn(queue, "odm") == "arn:aws:ecs:eu-west-1:111122223333:cluster/odm"
    assert cluster_arn(queue, CLUSTER) == CLUSTER


# ----- the tracker with tracking: events --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def events_tracker(answers: dict[str, dict], sweep: float = 300.0):
    asked: list[list[str]] = []
    changes: list[ObservedTask] = []
    clock = Clock()

    def describe(cluster: str, arns: list[str]) -> list[dict]:
        asked.append(list(arns))
        return [answers[a] for a in arns if a in answers]

    t = Tracker(describe, 1.0, on_change=changes.append, sweep_interval=sweep, clock=clock)
    return t, asked, changes, clock


def test_between_sweeps_the_tracker_describes_nothing_it_knows_and_applies_events_in_version_order():
    answers = {ARN: detail("PENDING", 2)}
    t, asked, changes, clock = events_tracker(answers)
    t.watch("odm", ARN)
    t.poll()  # the first poll is a sweep
    assert asked == [[ARN]] and t.get(ARN).last_status == "PENDING"
    for _ in range(5):
        clock.now += 10
        t.poll()
    assert len(asked) == 1, "no DescribeTasks between sweeps"
    # RUNNING (v4) arrives after STOPPING (v6), twice; PENDING (v2) again.
    applied = t.apply_events([detail("STOPPING", 6), detail("RUNNING", 4), detail("STOPPING", 6)])
    assert applied == 1 and t.get(ARN).last_status == "STOPPING"
    assert t.apply_events([detail("RUNNING", 4), detail("PENDING", 2)]) == 0
    assert [c.last_status for c in changes] == ["PENDING", "STOPPING"]
    clock.now += 300
    answers[ARN] = detail("RUNNING", 4)  # a sweep answer older than the events: kept out
    t.poll()
    assert len(asked) == 2 and t.get(ARN).last_status == "STOPPING"


def test_the_sweep_catches_a_change_whose_event_was_lost():
    answers = {ARN: detail("RUNNING", 4)}
    t, asked, changes, clock = events_tracker(answers, sweep=60)
    t.watch("odm", ARN)
    t.poll()
    answers[ARN] = detail("STOPPED", 8, odm="STOPPED", exit_code=0)  # its events never came
    clock.now += 30
    t.poll()
    assert t.get(ARN).last_status == "RUNNING"
    clock.now += 31
    t.poll()
    assert t.get(ARN).last_status == "STOPPED" and changes[-1].last_status == "STOPPED"


def test_a_task_never_heard_of_is_described_at_the_next_poll_not_the_next_sweep():
    answers = {ARN: detail("RUNNING", 4)}
    t, asked, _, clock = events_tracker(answers)
    t.poll()  # the sweep, with nothing watched
    t.watch("odm", ARN)  # e.g. a job resumed after a restart
    clock.now += 1
    t.poll()
    assert asked == [[ARN]] and t.get(ARN).last_status == "RUNNING"


def test_events_of_tasks_not_watched_are_ignored():
    t, _, changes, _ = events_tracker({})
    assert t.apply_events([detail("RUNNING", 4)]) == 0 and changes == [] and t.get(ARN) is None
