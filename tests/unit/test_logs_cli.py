"""`odm-operator logs`, its pure part: which stream a job's attempt and container log to, and when following stops.
The Kubernetes and CloudWatch reading is tested end to end (tests/e2e/test_gitops.py)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from odm_operator.logs_cli import LogsError, Stream, follow_logs, stream_of

TASK1 = "arn:aws:ecs:eu-west-1:111122223333:task/odm/aaa"
TASK2 = "arn:aws:ecs:eu-west-1:111122223333:task/odm/bbb"


def job(phase="Running", attempts=None, aws=None, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "farm", "namespace": "mapping"},
        "status": {
            "phase": phase,
            "attempts": attempts if attempts is not None else [{"number": 1, "taskArn": TASK1}],
            "aws": aws if aws is not None else {"logGroup": "/odm-operator/jobs", "logStream": "odm/odm/aaa"},
            **status,
        },
    }


@pytest.mark.parametrize(
    ("obj", "attempt", "container", "expected"),
    [
        pytest.param(job(), None, "odm", ("odm/odm/aaa", 1), id="the-latest-attempt-is-the-recorded-stream"),
        pytest.param(
            job(), None, "stage-in", ("odm/stage-in/aaa", 1), id="another-container-of-the-same-task"
        ),
        pytest.param(
            job(
                attempts=[
                    {"number": 1, "taskArn": TASK1, "finishedAt": "x"},
                    {"number": 2, "taskArn": TASK2},
                ],
                aws={"logGroup": "/odm-operator/jobs", "logStream": "odm/odm/bbb"},
            ),
            1,
            "odm",
            ("odm/odm/aaa", 1),
            id="an-earlier-attempt-from-its-task-arn",
        ),
        pytest.param(
            job(aws={"logGroup": "g", "logStream": "team/a/odm/aaa"}),
            None,
            "odm",
            ("team/a/odm/aaa", 1),
            id="a-stream-prefix-with-slashes-is-kept",
        ),
        pytest.param(job(attempts=[]), None, "odm", None, id="no-attempt-yet-means-no-stream-yet"),
        pytest.param(
            job(attempts=[{"number": 1}]), None, "odm", None, id="an-attempt-in-flight-has-no-task-yet"
        ),
    ],
)
def test_the_stream_of_an_attempt_and_container(obj, attempt, container, expected):
    stream = stream_of(obj, attempt, container)
    if expected is None:
        assert stream is None
    else:
        assert (stream.name, stream.attempt, stream.group) == (*expected, obj["status"]["aws"]["logGroup"])
        assert stream.region == "eu-west-1"  # from the task ARN, for a caller whose environment names none


@pytest.mark.parametrize(
    ("obj", "attempt", "fragment"),
    [
        pytest.param(job(), 3, "has no attempt 3 (attempts: 1)", id="an-attempt-the-job-does-not-have"),
        pytest.param(job(aws={}), None, "records no log stream", id="a-status-without-a-log-stream"),
    ],
)
def test_what_cannot_be_read_is_said_in_one_line(obj, attempt, fragment):
    with pytest.raises(LogsError, match=re.escape(fragment)):
        stream_of(obj, attempt, "odm")


class Scripted:
    """A job that moves through the given states, one per read, and a log stream that grows with it: the
    stand-ins for the API server and CloudWatch Logs that follow_logs is given."""

    def __init__(self, states: list[dict[str, Any]], lines: dict[str, list[list[str]]]):
        self.states, self.lines, self.reads = states, lines, 0
        self.visible: dict[str, list[str]] = {}

    def get(self) -> dict[str, Any]:
        state = self.states[min(self.reads, len(self.states) - 1)]
        for name, batches in self.lines.items():  # each job read, one more batch of lines becomes visible
            self.visible.setdefault(name, [])
            if self.reads < len(batches):
                self.visible[name] += batches[self.reads]
        self.reads += 1
        return state

    def read(self, stream: Stream, token: str | None) -> tuple[list[tuple[int, str]], str]:
        lines = self.visible.get(stream.name, [])
        start = int(token or 0)
        return [(1_700_000_000_000 + i, line) for i, line in enumerate(lines[start:], start)], str(len(lines))


def run(script: Scripted, follow: bool, attempt=None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = follow_logs(
        script.get, script.read, attempt, "odm", follow, False, 0, out, err, sleep=lambda s: None
    )
    return code, out.getvalue(), err.getvalue()


def test_without_follow_it_prints_what_is_there_and_exits():
    script = Scripted([job()], {"odm/odm/aaa": [["a", "b"], ["c"]]})
    assert run(script, follow=False) == (0, "a\nb\n", "")


def test_follow_waits_for_the_start_reads_until_the_end_and_says_how_it_ended():
    pending = job("Pending", attempts=[], reason="QuotaExceeded", message="2 jobs run")
    done = job("Succeeded", reason="Succeeded", message="products in s3://out/")
    script = Scripted([pending, job(), job(), done], {"odm/odm/aaa": [[], ["a"], ["b"], ["c"], ["late"]]})
    code, out, err = run(script, follow=True)
    assert code == 0 and out == "a\nb\nc\n"
    assert "has not started a task yet (phase Pending, reason QuotaExceeded: 2 jobs run); waiting" in err
    assert "ended: Succeeded (Succeeded: products in s3://out/)" in err


def test_follow_moves_on_to_the_next_attempt_after_a_retry():
    first = job()
    retrying = job(
        "Starting",
        attempts=[{"number": 1, "taskArn": TASK1, "finishedAt": "x"}, {"number": 2}],
        reason="SpotInterruption",
    )
    second = job(
        attempts=[{"number": 1, "taskArn": TASK1, "finishedAt": "x"}, {"number": 2, "taskArn": TASK2}],
        aws={"logGroup": "/odm-operator/jobs", "logStream": "odm/odm/bbb"},
    )
    done = {**second, "status": {**second["status"], "phase": "Succeeded", "reason": "Succeeded"}}
    script = Scripted(
        [first, retrying, second, done],
        {"odm/odm/aaa": [["one"], ["two"]], "odm/odm/bbb": [[], [], ["three"]]},
    )
    code, out, err = run(script, follow=True)
    assert (code, out) == (0, "one\ntwo\nthree\n")
    assert "--- attempt 2 (odm/odm/bbb)" in err


def test_a_job_that_has_not_started_is_an_error_without_follow():
    with pytest.raises(LogsError, match=r"has not started a task yet \(phase Suspended"):
        run(Scripted([job("Suspended", attempts=[], reason="Suspended")], {}), follow=False)


def test_a_job_that_ended_without_a_task_is_an_error_with_follow_too():
    failed = job("Failed", attempts=[], reason="InvalidSpec", message="invalid spec: spec.x")
    with pytest.raises(LogsError, match="phase Failed, reason InvalidSpec: invalid spec"):
        run(Scripted([failed], {}), follow=True)
