"""Errors retried without counting show in status after a few tries, and past the bound the job fails, except
for the calls that may start or must stop a task."""

import pytest

from odm_operator.plan import aws_retries

NOW = "2026-01-01T00:00:00Z"
STARTING = {"phase": "Starting", "reason": "Starting", "message": "starting attempt 1", "conditions": []}


def condition(status):
    return next(c for c in status["conditions"] if c["type"] == aws_retries.CONDITION)


@pytest.mark.parametrize(
    ("tries", "written"),
    [
        pytest.param(1, False, id="one failure is weather"),
        pytest.param(3, True, id="the third shows"),
        pytest.param(4, False, id="not every try is a write"),
        pytest.param(10, True, id="every tenth"),
        pytest.param(40, True, id="the limit"),
    ],
)
def test_when_the_condition_is_written(tries, written):
    assert aws_retries.should_write(tries, 40) is written


def test_the_condition_names_the_call_the_code_and_the_tries():
    status = aws_retries.retrying(STARTING, "CreateLogGroup", "ServiceUnavailable", 3, "503", 40, NOW, 1)
    assert status["phase"] == "Starting", "still retrying"
    c = condition(status)
    assert (c["status"], c["reason"]) == ("True", "ServiceUnavailable")
    assert "CreateLogGroup failed 3 times in a row with ServiceUnavailable" in c["message"]


def test_past_the_limit_the_job_fails_with_aws_unavailable():
    status = aws_retries.retrying(
        STARTING, "RegisterTaskDefinition", "ServerException", 40, "500", 40, NOW, 1
    )
    assert (status["phase"], status["reason"]) == ("Failed", "AwsUnavailable")
    assert "awsRetryLimit" in status["message"]


@pytest.mark.parametrize("operation", sorted(aws_retries.NEVER_GIVE_UP))
def test_calls_that_may_leave_a_task_running_are_never_given_up(operation):
    status = aws_retries.retrying(STARTING, operation, "ServerException", 400, "500", 40, NOW, 1)
    assert status["phase"] == "Starting"


def test_a_successful_pass_turns_the_condition_false():
    failing = aws_retries.retrying(STARTING, "RunTask", "ServerException", 3, "500", 40, NOW, 1)
    c = condition(aws_retries.recovered(failing, NOW, 1))
    assert (c["status"], c["reason"]) == ("False", "Recovered")
    assert aws_retries.recovered(STARTING, NOW, 1) == STARTING, "nothing to clear, nothing written"
