"""S3 for the gateway: upload sessions, streamed uploads, presigned downloads, deleting a task's data.

Uploads stream: a file smaller than one part is one PutObject; a larger one is a multipart upload whose parts
are sent as they fill, so the gateway holds at most one part per file being received, whatever the file's size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..ecs import aws_call

# S3's smallest part (but the last) is 5 MiB and a upload has at most 10,000 parts (AWS: "Amazon S3 multipart
# upload limits"): 5 MiB parts hold files up to 48 GiB, far above an image, at 5 MiB of buffer per file in flight.
PART_BYTES = 5 * 1024 * 1024
# DeleteObjects takes at most 1000 keys per call (S3 API reference).
DELETE_BATCH = 1000


@dataclass(frozen=True)
class S3Prefix:
    bucket: str
    prefix: str  # "" or ending in "/"

    @classmethod
    def parse(cls, uri: str) -> S3Prefix:
        if not uri.startswith("s3://"):
            raise ValueError(f"{uri!r} is not an s3:// URI")
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"{uri!r} names no bucket")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(bucket, prefix)

    def child(self, *parts: str) -> S3Prefix:
        return S3Prefix(self.bucket, self.prefix + "".join(p.strip("/") + "/" for p in parts))

    def key(self, name: str) -> str:
        return self.prefix + name

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


class Staging:
    def __init__(self, client: Any):
        self.client = client

    # ----- small JSON objects (upload session markers) --------------------------------------------------------

    def put_json(self, bucket: str, key: str, value: Any) -> None:
        body = json.dumps(value, separators=(",", ":")).encode()
        with aws_call("PutObject"):
            self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    def get_json(self, bucket: str, key: str) -> Any | None:
        """The object parsed as JSON, or None when it does not exist."""
        try:
            answer = self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return json.loads(answer["Body"].read())

    # ----- streamed uploads -----------------------------------------------------------------------------------

    def put_bytes(self, bucket: str, key: str, data: bytes) -> None:
        with aws_call("PutObject"):
            self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def start_multipart(self, bucket: str, key: str) -> str:
        with aws_call("CreateMultipartUpload"):
            return self.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]

    def upload_part(
        self, bucket: str, key: str, upload_id: str, number: int, data: bytes | bytearray
    ) -> dict[str, Any]:
        with aws_call("UploadPart"):
            answer = self.client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def complete_multipart(self, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        with aws_call("CompleteMultipartUpload"):
            self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        with aws_call("AbortMultipartUpload"):
            self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)

    # ----- listing, existence, deletion ---------------------------------------------------------------------

    def list_keys(self, where: S3Prefix) -> list[tuple[str, int]]:
        """(key relative to the prefix, size) of every object under it (paginated)."""
        out: list[tuple[str, int]] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with aws_call("ListObjectsV2"):
            for page in paginator.paginate(Bucket=where.bucket, Prefix=where.prefix):
                out.extend(
                    (item["Key"][len(where.prefix) :], int(item.get("Size", 0)))
                    for item in page.get("Contents", [])
                )
        return out

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete_key(self, bucket: str, key: str) -> None:
        with aws_call("DeleteObject"):
            self.client.delete_object(Bucket=bucket, Key=key)

    def delete_keys(self, where: S3Prefix, names: list[str]) -> None:
        """Delete the objects ``names`` (relative to the prefix)."""
        for first in range(0, len(names), DELETE_BATCH):
            batch = [{"Key": where.key(name)} for name in names[first : first + DELETE_BATCH]]
            with aws_call("DeleteObjects"):
                self.client.delete_objects(Bucket=where.bucket, Delete={"Objects": batch, "Quiet": True})

    def delete_prefix(self, where: S3Prefix) -> int:
        """Delete every object under the prefix (and abort its unfinished multipart uploads); returns how many
        objects were deleted."""
        keys = [where.prefix + rel for rel, _ in self.list_keys(where)]
        for first in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": k} for k in keys[first : first + DELETE_BATCH]]
            with aws_call("DeleteObjects"):
                self.client.delete_objects(Bucket=where.bucket, Delete={"Objects": batch, "Quiet": True})
        paginator = self.client.get_paginator("list_multipart_uploads")
        with aws_call("ListMultipartUploads"):
            for page in paginator.paginate(Bucket=where.bucket, Prefix=where.prefix):
                for upload in page.get("Uploads", []):
                    self.abort_multipart(where.bucket, upload["Key"], upload["UploadId"])
        return len(keys)

    # ----- downloads ------------------------------------------------------------------------------------------

    def presign_get(self, bucket: str, key: str, expires_seconds: int, filename: str) -> str:
        """A presigned GetObject URL (signed locally: no request to S3). The client downloads from S3 itself,
        with Range requests if it wants them; the gateway never carries the bytes."""
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_seconds,
        )
