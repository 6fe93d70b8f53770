"""aws/errors.py: the one table of AWS errors, read through its helpers (not-found, the launch's status reason,
whether the pass is retried). One reason per case."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from odm_operator.aws.capacity_providers import ProviderQuotaFull
from odm_operator.aws.errors import AwsCallError, is_not_found, retries_pass, run_failure, status_reason


def client_error(code, message="", status=400, operation="Op"):
    error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(error, operation)


NOT_FOUND = [
    (client_error("InvalidLaunchTemplateName.NotFoundException"), True, "EC2 says it in the code"),
    (client_error("NoSuchEntity"), True, "IAM's code for a missing role"),
    (
        client_error("ValidationError", "AutoScalingGroup name not found - x"),
        True,
        "Auto Scaling says it in words",
    ),
    (client_error("InvalidParameterException", "The referenced task was not found."), True, "ECS StopTask"),
    (client_error("ClientException", "The specified task cannot be found."), True, "ECS's other wording"),
    (
        AwsCallError("StopTask", client_error("ClusterNotFoundException")),
        True,
        "a classified error keeps its cause",
    ),
    (client_error("AccessDeniedException", "not authorized"), False, "denied is not absent"),
    (client_error("ThrottlingException", "Rate exceeded"), False, "throttled is not absent"),
    (EndpointConnectionError(endpoint_url="http://x"), False, "no answer says nothing about existence"),
]


@pytest.mark.parametrize(("exc", "expected", "why"), NOT_FOUND, ids=[c[-1] for c in NOT_FOUND])
def test_is_not_found(exc, expected, why):
    assert is_not_found(exc) is expected, why


REASONS = [
    ("AccessDeniedException", "AccessDenied", False, "ECS's denial"),
    ("UnauthorizedOperation", "AccessDenied", False, "EC2's denial"),
    ("InvalidParameterException", "AwsRequestFailed", False, "a bad request is not a permission problem"),
    ("ThrottlingException", "AwsRequestFailed", True, "throttled: the pass runs again, nothing counted"),
    ("ServerException", "AwsRequestFailed", True, "a 5xx: the same"),
]


@pytest.mark.parametrize(("code", "reason", "retried", "why"), REASONS, ids=[c[-1] for c in REASONS])
def test_status_reason_and_retries_pass(code, reason, retried, why):
    exc = AwsCallError("RunTask", client_error(code))
    assert (status_reason(exc), retries_pass(exc)) == (reason, retried), why


def test_a_cluster_full_of_providers_is_not_retried_blindly_but_waited_for():
    exc = ProviderQuotaFull("odm", 20)
    assert exc.kind == "transient", "to every other caller it is a not-now"
    assert not retries_pass(exc) and status_reason(exc) == "CapacityProviderQuota", (
        "the planner makes the job wait"
    )


RUN_FAILURES = [
    ([{"reason": "RESOURCE:MEMORY", "detail": "x"}], ("RESOURCE:MEMORY x", True), "no room now: retryable"),
    ([{"reason": "AGENT"}], ("AGENT", True), "the agent is briefly disconnected"),
    ([{"reason": "ATTRIBUTE", "detail": "gpu"}], ("ATTRIBUTE gpu", False), "no instance can ever match"),
    (
        [],
        ("RESOURCE:UNKNOWN RunTask placed no task", True),
        "neither a task nor a failure: treated as no room",
    ),
]


@pytest.mark.parametrize(("failures", "expected", "why"), RUN_FAILURES, ids=[c[-1] for c in RUN_FAILURES])
def test_run_failure(failures, expected, why):
    assert run_failure(failures) == expected, why
