"""One table that classifies AWS error codes: terminal, retryable or transient (the ACK convention).

- transient: the same call may succeed if repeated later (throttling, 5xx, an update in progress); not counted
  against a job's backoffLimit.
- retryable: this attempt cannot run now, a new attempt may (capacity); counted against backoffLimit.
- terminal: repeating cannot help until someone changes something (permissions, a bad parameter).
"""

from __future__ import annotations

from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError

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
        self.code = error_code(exc)
        self.kind: Kind = classify(exc)
        self.message = describe(exc, operation)
        super().__init__(self.message)
