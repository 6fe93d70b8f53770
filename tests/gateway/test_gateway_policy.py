"""The gateway's IAM policy (manifests/aws/gateway-policy.json) grants exactly the AWS actions the gateway's code
calls, found by the same AST scan as the operator's policy test, over operator/odm_operator/aws/nodeodm/; and
every statement is scoped to the staging and output prefixes or the jobs' log group."""

from __future__ import annotations

import json

from tests.unit.test_iam_policy import PACKAGE, REPO, derive_calls, granted_actions

POLICY = REPO / "manifests" / "aws" / "gateway-policy.json"
GATEWAY_AWS = PACKAGE / "aws" / "nodeodm"
# Actions IAM checks that no call names: a presigned GET is authorized as the signer's s3:GetObject; the
# multipart calls are authorized as s3:PutObject (S3 docs, "Multipart upload API and permissions").
IMPLIED = {"s3:GetObject"}
RENAMED = {
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:ListMultipartUploads": "s3:ListBucketMultipartUploads",
}


def gateway_actions() -> set[str]:
    aws = {p.name: p.read_text() for p in sorted(GATEWAY_AWS.glob("*.py"))}
    other = {
        str(p.relative_to(PACKAGE)): p.read_text()
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.parent != GATEWAY_AWS and "sandbox" not in p.relative_to(PACKAGE).parts
    }
    calls, unresolved = derive_calls(aws, other)
    assert not unresolved, unresolved
    assert calls, "no AWS call found in aws/nodeodm/: the scan is broken"
    return {RENAMED.get(c.action, c.action) for c in calls} | IMPLIED


def test_the_gateway_policy_grants_exactly_what_the_gateway_calls():
    assert granted_actions(POLICY) == gateway_actions()


def test_every_gateway_statement_is_scoped_to_its_prefixes_or_log_group():
    for statement in json.loads(POLICY.read_text())["Statement"]:
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        assert "*" not in resources
        for resource in resources:
            assert resource.startswith(
                ("arn:aws:s3:::STAGING_BUCKET", "arn:aws:s3:::OUTPUT_BUCKET", "arn:aws:logs:")
            )
            if resource.startswith("arn:aws:s3:::") and "/" not in resource:  # bucket-level: only by prefix
                if statement["Action"] == ["s3:ListBucketMultipartUploads"]:
                    continue  # the one bucket action without an s3:prefix key (the SAR; test_iam_policy checks)
                assert statement["Condition"]["StringLike"]["s3:prefix"]
