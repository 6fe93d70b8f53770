"""One table that classifies AWS error codes: terminal, retryable or transient (the ACK convention).

- transient: the same call may succeed if repeated later (throttling, 5xx, an update in progress); not counted
  against a job's backoffLimit.
- retryable: this attempt cannot run now, a new attempt may (capacity); counted against backoffLimit.
- terminal: repeating cannot help until someone changes something (permissions, a bad parameter).
"""

from __future__ import annotations

from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from ..plan.launch import PROVIDER_QUOTA

Kind = Literal["terminal", "retryable", "transient"]

ERROR_KINDS: dict[str, Kind] = {
    # Throttling and service-side trouble: retry the call later.
    "ThrottlingException": "transient",
    "Throttling": "transient",
    "TooManyRequestsException": "transient",
    "RequestLimitExceeded": "transient",
    "ServerException": "transient",
    "InternalFailure": "transient",
    "InternalError": "transient",
    "ServiceUnavailable": "transient",
    "ServiceUnavailableException": "transient",
    "RequestTimeout": "transient",
    "RequestTimeoutException": "transient",
    "UpdateInProgressException": "transient",
    "ResourceInUseException": "transient",
    "ConflictException": "transient",
    # Capacity: a new attempt may find room.
    "LimitExceededException": "retryable",
    "InsufficientInstanceCapacity": "retryable",
    "BlockedException": "retryable",
    # Needs a human.
    "AccessDeniedException": "terminal",
    "AccessDenied": "terminal",
    "UnauthorizedOperation": "terminal",
    "UnrecognizedClientException": "terminal",
    "InvalidClientTokenId": "terminal",
    "ExpiredTokenException": "terminal",
    "InvalidParameterException": "terminal",
    "InvalidParameterValue": "terminal",
    "ValidationError": "terminal",
    "ValidationException": "terminal",
    "ClientException": "terminal",
    "ClusterNotFoundException": "terminal",
    "PlatformUnknownException": "terminal",
    "PlatformTaskDefinitionIncompatibilityException": "terminal",
    "UnsupportedFeatureException": "terminal",
    "NoSuchBucket": "terminal",
}

# RunTask failures[].reason prefixes: not enough room right now, or the agent is briefly disconnected.
RETRYABLE_RUN_FAILURES = ("RESOURCE:", "AGENT")


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return type(exc).__name__


# How AWS says that what a call names does not exist: in the code (EC2's InvalidLaunchTemplateName.NotFoundException,
# IAM's NoSuchEntity) or only in the message (Auto Scaling's ValidationError "AutoScalingGroup name not found", ECS's
# InvalidParameterException "The referenced task was not found", "... cannot be found").
NOT_FOUND_CODES = ("notfound", "nosuchentity")
NOT_FOUND_MESSAGES = ("not found", "cannot be found")


def is_not_found(exc: BaseException) -> bool:
    """Whether a failed call failed because its resource does not exist: deleting or stopping it counts as done,
    and observing it means "absent". The one place that reads AWS's many ways of saying so."""
    if isinstance(exc, AwsCallError):
        exc = exc.error
    if not isinstance(exc, ClientError):
        return False
    code = error_code(exc).lower()
    message = str(exc.response.get("Error", {}).get("Message", "")).lower()
    return any(c in code for c in NOT_FOUND_CODES) or any(m in message for m in NOT_FOUND_MESSAGES)


def classify(exc: BaseException) -> Kind:
    """The kind of an exception from a boto3 call. Network-level botocore errors are transient."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        kind = ERROR_KINDS.get(error_code(exc))
        if kind:
            return kind
        return "transient" if status >= 500 else "terminal"
    if isinstance(exc, BotoCoreError):
        return "transient"
    return "terminal"


def classify_run_failure(reason: str) -> Kind:
    return "retryable" if reason.startswith(RETRYABLE_RUN_FAILURES) else "terminal"


# What RunTask's failures[] says when it placed no task and named no failure (never seen, but possible).
NO_TASK = {"reason": "RESOURCE:UNKNOWN", "detail": "RunTask placed no task"}


def run_failure(failures: list[dict[str, Any]]) -> tuple[str, bool]:
    """RunTask's first failure as "REASON detail", and whether a new attempt may find room (retryable)."""
    failure = failures[0] if failures else NO_TASK
    reason = str(failure.get("reason", ""))
    return f"{reason} {failure.get('detail') or ''}".strip(), classify_run_failure(reason) == "retryable"


# Codes of a call refused for lack of permission: the attempt's reason is AccessDenied (else AwsRequestFailed).
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "Unauthorized",
    }
)


def status_reason(exc: AwsCallError) -> str:
    """The status reason of a call that failed a launch: the cluster is full of providers (the job waits), the
    call was denied, or it failed otherwise."""
    if exc.code == PROVIDER_QUOTA:
        return PROVIDER_QUOTA
    return "AccessDenied" if exc.code in DENIED_CODES else "AwsRequestFailed"


def retries_pass(exc: AwsCallError) -> bool:
    """Whether the pass is run again later (with backoff, not counted against the job) for this error: transient
    ones, except a cluster without room for another provider, which the planner turns into waiting."""
    return exc.kind == "transient" and exc.code != PROVIDER_QUOTA


def describe(exc: BaseException, operation: str) -> str:
    """A sentence for status.message: which call failed, the AWS code, and AWS's own message."""
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message", "")
        return f"{operation} failed with {error_code(exc)}: {message}".rstrip(": ")
    return f"{operation} failed: {exc}"


# RunTask's answer when the strategy names a provider the cluster does not have (anymore): someone detached it
# since the operator attached it (another tool's PutClusterCapacityProviders replaces the whole list).
NOT_ASSOCIATED = "not associated with the cluster"


def provider_not_associated(exc: AwsCallError) -> bool:
    return exc.code == "InvalidParameterException" and NOT_ASSOCIATED in exc.message


class AwsCallError(Exception):
    """A classified failure of one AWS call, carrying what status needs."""

    def __init__(self, operation: str, exc: BaseException):
        self.operation = operation
        self.error = exc  # botocore's own exception
        self.code = error_code(exc)
        self.kind: Kind = classify(exc)
        self.message = describe(exc, operation)
        super().__init__(self.message)
