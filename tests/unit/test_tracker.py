"""The shared tracker: a watched task that DescribeTasks stops returning is reported MISSING, not awaited forever."""

from odm_operator.runtime.tracker import MISSING_POLLS, Tracker

ARN = "arn:aws:ecs:us-east-1:123456789012:task/odm/abc"


def tracker(answers: dict[str, dict]) -> Tracker:
    changes = []
    t = Tracker(
        lambda cluster, arns: [answers[a] for a in arns if a in answers], 1.0, on_change=changes.append
    )
    t.changes = changes  # type: ignore[attr-defined]
    t.watch("odm", ARN)
    return t


def test_a_task_describe_tasks_no_longer_returns_is_missing_after_some_polls():
    t = tracker({})
    for _ in range(MISSING_POLLS - 1):
        t.poll()
        assert t.get(ARN) is None, "a task ECS does not show yet may be new (eventual consistency)"
    t.poll()
    observed = t.get(ARN)
    assert observed is not None and observed.stopped and observed.last_status == "MISSING"
    t.poll()
    assert len(t.changes) == 1, "reported once"


def test_a_task_seen_again_starts_the_count_over():
    answers: dict[str, dict] = {}
    t = tracker(answers)
    for _ in range(MISSING_POLLS - 1):
        t.poll()
    answers[ARN] = {"taskArn": ARN, "lastStatus": "RUNNING"}
    t.poll()
    del answers[ARN]
    for _ in range(MISSING_POLLS - 1):
        t.poll()
    assert t.get(ARN).last_status == "RUNNING"


def test_a_forgotten_task_is_not_reported():
    t = tracker({})
    t.poll()
    t.forget(ARN)
    for _ in range(MISSING_POLLS):
        t.poll()
    assert t.get(ARN) is None and t.changes == []


def test_a_stopped_task_is_final_it_is_not_described_again_nor_turned_missing_when_ecs_forgets_it():
    # Its job's pass may be slow to act on the stop (throttled output listing); ECS forgets a stopped task after
    # an hour, and the job must still see how its task ended, not MISSING.
    answers = {ARN: {"taskArn": ARN, "lastStatus": "STOPPED", "stopCode": "EssentialContainerExited"}}
    asked: list[list[str]] = []

    def describe(cluster, arns):
        asked.append(list(arns))
        return [answers[a] for a in arns if a in answers]

    t = Tracker(describe, 1.0)
    t.watch("odm", ARN)
    t.poll()
    del answers[ARN]
    for _ in range(MISSING_POLLS + 1):
        t.poll()
    assert asked == [[ARN]], "described once"
    assert t.get(ARN).last_status == "STOPPED"
