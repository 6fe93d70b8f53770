"""The pacer lets a burst through, then spaces calls at its rate, and never lets more through than the bucket."""

import pytest

from odm_operator.aws.pacing import Pacer


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("burst", "rate", "calls", "expected_end"),
    [
        (10, 5.0, 10, 0.0),  # the burst is free
        (10, 5.0, 11, 0.2),  # one past the burst waits one interval
        (100, 40.0, 1000, 22.5),  # ECS's floor for 1000 RunTasks
        (1, 1.0, 3, 2.0),
    ],
)
def test_calls_are_spaced_at_the_rate_after_the_burst(burst, rate, calls, expected_end):
    t = FakeTime()
    pacer = Pacer(burst, rate, clock=t.clock, sleep=t.sleep)
    for _ in range(calls):
        pacer.acquire()
    assert t.now == pytest.approx(expected_end)


def test_idle_time_refills_the_bucket_up_to_the_burst():
    t = FakeTime()
    pacer = Pacer(5, 10.0, clock=t.clock, sleep=t.sleep)
    for _ in range(5):
        pacer.acquire()
    t.now += 100
    for _ in range(5):
        assert pacer.acquire() == 0
    assert pacer.acquire() == pytest.approx(0.1)


def test_a_bad_configuration_is_refused():
    with pytest.raises(ValueError):
        Pacer(0, 1)
