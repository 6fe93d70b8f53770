"""Name the AWS operation a raw HTTP request carries, the way CloudTrail would ("ecs:RunTask",
"s3:PutObject").

Counting calls per operation is how benchmarks check the operator's call budget, and throttling and fault
rules are keyed by the same names. The service comes from the SigV4 credential scope; the operation from the
protocol: ``X-Amz-Target`` for JSON services (ECS, CloudWatch Logs, SSM), the ``Action`` parameter for query
services (EC2, Auto Scaling, IAM, STS) and method + path + sub-resource for S3's REST protocol.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

# Where the request body is kept once read, so later readers (and moto) see it unchanged.
BODY_ENVIRON_KEY = "odm_sandbox.body"

# Services whose errors use EC2's own XML shape rather than the generic query <ErrorResponse>.
EC2_PROTOCOL_SERVICES = frozenset({"ec2"})

# S3 bucket sub-resources that turn a bucket request into Get/Put/DeleteBucket<Name>.
S3_BUCKET_SUBRESOURCES = {
    "acl": "Acl",
    "cors": "Cors",
    "encryption": "Encryption",
    "lifecycle": "LifecycleConfiguration",
    "location": "Location",
    "logging": "Logging",
    "notification": "NotificationConfiguration",
    "ownershipControls": "OwnershipControls",
    "policy": "Policy",
    "publicAccessBlock": "PublicAccessBlock",
    "replication": "Replication",
    "tagging": "Tagging",
    "versioning": "Versioning",
    "website": "Website",
}


@dataclass(frozen=True)
class Operation:
    service: str  # SigV4 signing name: ecs, logs, ssm, ec2, autoscaling, iam, s3, ...
    name: str  # API operation name: RunTask, PutObject, ...
    region: str
    protocol: str  # json | query | ec2 | rest-xml

    @property
    def key(self) -> str:
        return f"{self.service}:{self.name}"


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back as a fresh stream for whoever reads it next."""
    cached = environ.get(BODY_ENVIRON_KEY)
    if cached is not None:
        return cached
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ[BODY_ENVIRON_KEY] = body
    return body


def credential_scope(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, region) from a SigV4 Authorization header or presigned URL; ("", "") when unsigned."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    marker = "Credential="
    start = auth.find(marker)
    if start >= 0:
        scope = auth[start + len(marker) :].split(",", 1)[0].strip()
    else:
        scope = (parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential") or [""])[0]
    parts = scope.split("/")
    if len(parts) < 5:
        return "", ""
    return parts[3].lower(), parts[2]


def identify(environ: dict[str, Any]) -> Operation:
    service, region = credential_scope(environ)
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        prefix, _, name = target.partition(".")
        return Operation(service or prefix.lower(), name or target, region, "json")
    if service == "s3":
        return Operation("s3", s3_operation(environ), region, "rest-xml")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    action = (query.get("Action") or [""])[0]
    if not action and "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        form = parse_qs(read_body(environ).decode("utf-8", "replace"))
        action = (form.get("Action") or [""])[0]
    protocol = "ec2" if service in EC2_PROTOCOL_SERVICES else "query"
    return Operation(service or "unknown", action or "Unknown", region, protocol)


def s3_operation(environ: dict[str, Any]) -> str:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:
        return "ListBuckets"
    if not key:
        return _s3_bucket_operation(method, query)
    return _s3_object_operation(method, query, environ)


def _s3_bucket_operation(method: str, query: dict[str, list[str]]) -> str:
    subresource = next((S3_BUCKET_SUBRESOURCES[q] for q in query if q in S3_BUCKET_SUBRESOURCES), None)
    if method == "GET":
        if subresource:
            return f"GetBucket{subresource}"
        if "versions" in query:
            return "ListObjectVersions"
        if "uploads" in query:
            return "ListMultipartUploads"
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    if method == "PUT":
        return f"PutBucket{subresource}" if subresource else "CreateBucket"
    if method == "DELETE":
        return f"DeleteBucket{subresource}" if subresource else "DeleteBucket"
    if method == "HEAD":
        return "HeadBucket"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return f"{method.title()}Bucket"


def _s3_object_operation(method: str, query: dict[str, list[str]], environ: dict[str, Any]) -> str:
    copy_source = "HTTP_X_AMZ_COPY_SOURCE" in environ
    if method == "GET":
        if "uploadId" in query:
            return "ListParts"
        if "tagging" in query:
            return "GetObjectTagging"
        if "acl" in query:
            return "GetObjectAcl"
        return "GetObject"
    if method == "PUT":
        if "partNumber" in query and "uploadId" in query:
            return "UploadPartCopy" if copy_source else "UploadPart"
        if "tagging" in query:
            return "PutObjectTagging"
        if "acl" in query:
            return "PutObjectAcl"
        return "CopyObject" if copy_source else "PutObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "DELETE":
        if "uploadId" in query:
            return "AbortMultipartUpload"
        return "DeleteObjectTagging" if "tagging" in query else "DeleteObject"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        if "restore" in query:
            return "RestoreObject"
    return f"{method.title()}Object"
