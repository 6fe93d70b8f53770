"""S3 gateway: count the images under an input prefix (paginated), for sizing and the empty-input check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import contract
from .ecs import aws_call


@dataclass(frozen=True)
class Dataset:
    images: int
    bytes: int


class S3Gateway:
    def __init__(self, client: Any):
        self.client = client

    def count_images(self, bucket: str, prefix: str) -> Dataset:
        images = total = 0
        paginator = self.client.get_paginator("list_objects_v2")
        with aws_call("ListObjectsV2"):
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if contract.is_odm_input(item["Key"]):
                        images += 1
                        total += int(item.get("Size", 0))
        return Dataset(images, total)

    def list_prefix(self, bucket: str, prefix: str) -> list[tuple[str, int]]:
        """(key relative to ``prefix``, size) of every object under ``prefix`` (paginated)."""
        out: list[tuple[str, int]] = []
        base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        paginator = self.client.get_paginator("list_objects_v2")
        with aws_call("ListObjectsV2"):
            for page in paginator.paginate(Bucket=bucket, Prefix=base):
                out.extend(
                    (item["Key"][len(base) :], int(item.get("Size", 0))) for item in page.get("Contents", [])
                )
        return out
