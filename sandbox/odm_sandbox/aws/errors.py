"""AWS error responses in each protocol's real wire format, so botocore parses injected errors as real ones.

A throttle or an injected fault is only useful if the client sees exactly what AWS would send: botocore picks
the error code out of ``__type`` for JSON services, out of ``<Response><Errors>`` for EC2, out of
``<ErrorResponse>`` for the other query services (Auto Scaling, IAM, STS) and out of ``<Error>`` for S3, and
its retry logic keys on that code (ThrottlingException, Throttling, RequestLimitExceeded, 5xx...).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

# JSON 1.1 is what ECS, CloudWatch Logs and SSM speak.
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
XML_CONTENT_TYPE = "text/xml"

# xmlns of <ErrorResponse> per query service, as the real endpoints send it (botocore ignores it).
QUERY_NAMESPACES = {
    "autoscaling": "http://autoscaling.amazonaws.com/doc/2011-01-01/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}

HTTP_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class ErrorResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTP_REASONS.get(self.status, 'Error')}"


def error_response(
    protocol: str, service: str, code: str, message: str, status: int, head: bool = False
) -> ErrorResponse:
    """An error answer in ``protocol`` (json | ec2 | query | rest-xml); ``head`` drops the body."""
    request_id = str(uuid.uuid4())
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [
            ("Content-Type", JSON_CONTENT_TYPE),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", code),
        ]
    elif protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", XML_CONTENT_TYPE)]
    elif protocol == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    else:
        namespace = QUERY_NAMESPACES.get(service)
        xmlns = f' xmlns="{namespace}"' if namespace else ""
        fault_type = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse{xmlns}><Error><Type>{fault_type}</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", XML_CONTENT_TYPE), ("x-amzn-RequestId", request_id)]
    if head:
        body = b""
    headers.append(("Content-Length", str(len(body))))
    return ErrorResponse(status, headers, body)
