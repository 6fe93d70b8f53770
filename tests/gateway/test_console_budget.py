"""Console output costs a bounded number of CloudWatch calls, however many tasks clients poll: at most
``logs_calls_per_second * t + burst`` GetLogEvents calls in ``t`` seconds per replica, counted by the AWS
emulator itself; lines are appended in order and a finished task's log is not read again."""

from __future__ import annotations

import asyncio
import time

import pytest

from odm_operator.aws.nodeodm.console_logs import ConsoleLogs
from odm_operator.gateway.console import Console
from odm_sandbox.stack import Stack

pytestmark = pytest.mark.e2e

GROUP = "/odm-operator/console-budget"
TASKS = 200
RATE = 5.0
SECONDS = 3.0


def _job(i: int, phase: str = "Running") -> dict:
    return {
        "metadata": {"uid": f"uid-{i}"},
        "status": {"phase": phase, "aws": {"logGroup": GROUP, "logStream": f"odm/odm/task-{i}"}},
    }


def _get_log_events(stack: Stack) -> list[float]:
    key = next((k for k in stack.aws.counters.snapshot()["calls"] if k.endswith("GetLogEvents")), None)
    return stack.aws.counters.times(key) if key else []


def test_hundreds_of_polled_tasks_cost_a_bounded_number_of_calls(stack: Stack):
    logs = stack.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    for i in range(TASKS):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=f"odm/odm/task-{i}")
        logs.put_log_events(
            logGroupName=GROUP,
            logStreamName=f"odm/odm/task-{i}",
            logEvents=[
                {"timestamp": int(time.time() * 1000), "message": f"\x1b[32m[INFO]    line {i}\x1b[0m"}
            ],
        )
    console = Console(ConsoleLogs(stack.client("logs")), RATE, refresh_seconds=0.0, max_tasks=1000)
    jobs = [_job(i) for i in range(TASKS)]
    before = len(_get_log_events(stack))

    async def poll() -> int:
        polls, end = 0, time.monotonic() + SECONDS
        while time.monotonic() < end:  # every task polled continuously: far more than WebODM's 5 s
            await asyncio.gather(*(console.lines(j) for j in jobs))
            polls += TASKS
        return polls

    started = time.monotonic()
    polls = asyncio.run(poll())
    elapsed = time.monotonic() - started
    calls = len(_get_log_events(stack)) - before
    print(
        f"GetLogEvents: {calls} calls in {elapsed:.1f} s for {polls} polls of {TASKS} tasks (budget {RATE}/s)"
    )
    assert polls > 10 * TASKS
    assert 0 < calls <= RATE * elapsed + RATE  # the bucket's rate plus its burst
    read = [j for j in jobs if console._entries[j["metadata"]["uid"]].lines]
    assert read and all(
        console._entries[j["metadata"]["uid"]].lines == [f"[INFO]    line {j['metadata']['uid'][4:]}"]
        for j in read
    )


def test_a_finished_task_read_to_the_end_is_not_read_again(stack: Stack):
    logs = stack.client("logs")
    stream = "odm/odm/finished"
    logs.create_log_group(logGroupName=GROUP + "-done")
    logs.create_log_stream(logGroupName=GROUP + "-done", logStreamName=stream)
    logs.put_log_events(
        logGroupName=GROUP + "-done",
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": m} for m in ("one", "two")],
    )
    job = {
        "metadata": {"uid": "done"},
        "status": {"phase": "Succeeded", "aws": {"logGroup": GROUP + "-done", "logStream": stream}},
    }
    console = Console(ConsoleLogs(stack.client("logs")), 100.0, refresh_seconds=0.0, max_tasks=10)
    before = len(_get_log_events(stack))

    async def poll() -> list[list[str]]:
        return [list(await console.lines(job)) for _ in range(20)]

    answers = asyncio.run(poll())
    assert answers[0] == ["one", "two"] and all(a == answers[0] for a in answers)
    assert len(_get_log_events(stack)) - before == 1
