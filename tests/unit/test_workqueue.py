"""The work queue's controller-runtime semantics, driven by a fake clock (no threads, no sleeps).

Each case is a script of operations on one queue and the keys ``get`` must hand out, with the reason the
behaviour matters to the operator.
"""

from __future__ import annotations

import pytest

from odm_operator.runtime.workqueue import ShutDown, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(script: list[tuple]) -> list:
    """Run ``script`` (tuples of operation and arguments) and collect what each ``get`` returned."""
    clock = FakeClock()
    queue = WorkQueue(clock, retry_seconds=1.0, retry_max_seconds=8.0)
    got: list = []
    for op, *args in script:
        if op == "tick":
            clock.now += args[0]
        elif op == "get":
            got.append(queue.get(block=False))
        elif op == "rate_limited":
            got.append(("delay", queue.add_rate_limited(*args)))
        else:
            getattr(queue, op)(*args)
    return got


CASES = [
    pytest.param(
        [("add", "a"), ("add", "a"), ("get",), ("get",)], ["a", None], id="adds-of-a-waiting-key-coalesce"
    ),
    pytest.param(
        [("add", "a"), ("add", "b"), ("get",), ("get",), ("get",)],
        ["a", "b", None],
        id="keys-come-out-in-order",
    ),
    pytest.param(
        [("add", "a"), ("get",), ("add", "a"), ("get",), ("done", "a"), ("get",)],
        ["a", None, "a"],
        id="an-event-during-a-pass-runs-once-more-after-it-never-beside-it",
    ),
    pytest.param(
        [
            ("add", "a"),
            ("get",),
            ("add", "a"),
            ("add", "a"),
            ("done", "a"),
            ("get",),
            ("done", "a"),
            ("get",),
        ],
        ["a", "a", None],
        id="several-events-during-a-pass-cost-one-more-pass",
    ),
    pytest.param(
        [("add", "a"), ("get",), ("done", "a"), ("get",)], ["a", None], id="a-quiet-pass-is-not-repeated"
    ),
    pytest.param(
        [("add_after", "a", 5), ("get",), ("tick", 4.9), ("get",), ("tick", 0.2), ("get",)],
        [None, None, "a"],
        id="a-requeue-waits-for-its-time",
    ),
    pytest.param(
        [
            ("add_after", "a", 60),
            ("add_after", "a", 5),
            ("tick", 5),
            ("get",),
            ("done", "a"),
            ("tick", 60),
            ("get",),
        ],
        ["a", None],
        id="only-the-earliest-requeue-of-a-key-is-kept",
    ),
    pytest.param(
        [("add_after", "a", 5), ("add_after", "a", 60), ("tick", 5), ("get",)],
        ["a"],
        id="a-later-requeue-does-not-postpone-an-earlier-one",
    ),
    pytest.param(
        [("add_after", "a", 0), ("get",)], ["a"], id="a-requeue-after-zero-is-an-add-another-pass-now"
    ),
    pytest.param(
        [("add", "a"), ("add_after", "a", 5), ("get",), ("done", "a"), ("tick", 5), ("get",)],
        ["a", "a"],
        id="a-queued-key-keeps-its-scheduled-pass",
    ),
    pytest.param(
        [
            ("add", "a"),
            ("get",),
            ("tick", 1),
            ("add_after", "a", 1),
            ("tick", 1),
            ("get",),
            ("done", "a"),
            ("get",),
        ],
        ["a", None, "a"],
        id="a-requeue-falling-due-during-the-pass-waits-for-its-end",
    ),
    pytest.param(
        [
            ("rate_limited", "a"),
            ("rate_limited", "a"),
            ("rate_limited", "a"),
            ("rate_limited", "a"),
            ("rate_limited", "a"),
        ],
        [("delay", 1.0), ("delay", 2.0), ("delay", 4.0), ("delay", 8.0), ("delay", 8.0)],
        id="failures-in-a-row-back-off-exponentially-up-to-the-cap",
    ),
    pytest.param(
        [("rate_limited", "a"), ("rate_limited", "a"), ("forget", "a"), ("rate_limited", "a")],
        [("delay", 1.0), ("delay", 2.0), ("delay", 1.0)],
        id="a-successful-pass-resets-the-backoff",
    ),
    pytest.param(
        [("rate_limited", "a"), ("rate_limited", "b"), ("rate_limited", "a")],
        [("delay", 1.0), ("delay", 1.0), ("delay", 2.0)],
        id="backoff-is-per-key-one-failing-job-does-not-slow-others",
    ),
    pytest.param(
        [("rate_limited", "a"), ("tick", 0.5), ("get",), ("tick", 0.5), ("get",)],
        [("delay", 1.0), None, "a"],
        id="a-retry-is-a-delayed-requeue",
    ),
    pytest.param(
        [("add_after", "a", 5), ("discard", "a"), ("tick", 10), ("get",)],
        [None],
        id="a-gone-job-loses-its-scheduled-pass",
    ),
    pytest.param(
        [("add_after", "a", 1e12), ("add_after", "b", 1), ("tick", 1), ("get",)],
        ["b"],
        id="a-requeue-centuries-away-does-not-hold-the-others",
    ),
]


@pytest.mark.parametrize("script, expected", CASES)
def test_work_queue(script, expected):
    assert run(script) == expected


def test_busy_tells_queued_processing_and_scheduled_keys():
    clock = FakeClock()
    queue = WorkQueue(clock)
    queue.add_after("a", 5)
    assert queue.busy("a"), "scheduled"
    clock.now += 5
    assert queue.get(block=False) == "a" and queue.busy("a"), "processing"
    queue.done("a")
    assert not queue.busy("a"), "done and nothing asked for it"


def test_a_shut_down_queue_hands_out_nothing_more():
    queue = WorkQueue(FakeClock())
    queue.add("a")
    queue.shut_down()
    queue.add("b")
    with pytest.raises(ShutDown):
        queue.get(block=False)
