"""The stage-in and stage-out containers' work, done directly on moto's in-process S3 backend.

stage-in lists the input prefix (what ``aws s3 cp --recursive`` would download) and counts the images ODM will
see; an empty or unreadable prefix is the most common user error and must fail the task the way the real
container does (exit 1). stage-out uploads the products under the output prefix, or fails (exit 1) when the
bucket is missing, which the operator reports as OutputUploadFailed.
"""

from __future__ import annotations

import io
import stat
import zipfile
from dataclasses import dataclass, field
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from odm_operator import contract

# Files ODM picks up from the project folder besides images (reference/ecs-odm-facts.md section 9).
ODM_AUX_FILES = ("gcp_list.txt", "geo.txt", "image_groups.txt", "align.laz", "align.las", "align.tif")

# ODM 3.6.0 opendm/context.py supported_extensions + supported_video_extensions: what ODM takes as input; a
# ``*_mask.*`` file is the mask of an image, not an image (the sandbox's own copy: it checks the operator's).
ODM_INPUT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".raw", ".dng", ".nef", ".jxl",
                        ".mp4", ".mov", ".lrv", ".ts")  # fmt: skip

# NodeODM unzips an uploaded seed.zip into the project (libs/taskNew.js).
SEED_ZIP = "seed.zip"

# S3 lives in one partition-wide backend per account.
S3_PARTITION = "aws"

# Placeholder bytes for product files: the operator only looks at keys and sizes.
PRODUCT_BODY = b"odm-operator sandbox product\n"


@dataclass(frozen=True)
class InputListing:
    images: int = 0
    image_bytes: int = 0
    aux_files: tuple[str, ...] = ()
    error: str | None = None  # why stage-in fails; None when it succeeds
    image_names: tuple[str, ...] = ()
    seed_files: tuple[str, ...] = ()  # what seed.zip put in the project (project-relative), when unpacked

    @property
    def has_gcp(self) -> bool:
        return "gcp_list.txt" in self.aux_files


@dataclass(frozen=True)
class Upload:
    keys: tuple[str, ...] = field(default_factory=tuple)
    error: str | None = None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "prefix/") from "s3://bucket/prefix"; ValueError when it is not an S3 URI."""
    if not uri or not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in S3 URI: {uri!r}")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def _s3() -> Any:
    return s3_backends[DEFAULT_ACCOUNT_ID][S3_PARTITION]


def _bucket_keys(bucket_name: str) -> Any:
    buckets = _s3().buckets
    if bucket_name not in buckets:
        return None
    return buckets[bucket_name].keys


def list_input(uri: str | None, unpack_seed: bool = False) -> InputListing:
    """What stage-in finds under ``uri``: image count and bytes, auxiliary files, or why it fails. With
    ``unpack_seed`` (the stage-in script unpacks seed.zip, as NodeODM does), seed.zip's members are in the
    project, and a member that would land outside it fails stage-in (zip-slip)."""
    if not uri:
        return InputListing(error=f"{contract.ENV_INPUT_URI} is not set")
    try:
        bucket, prefix = parse_s3_uri(uri)
    except ValueError as exc:
        return InputListing(error=str(exc))
    keys = _bucket_keys(bucket)
    if keys is None:
        return InputListing(
            error=f"input prefix {uri} is unreadable: NoSuchBucket: the bucket {bucket} does not exist"
        )
    images = 0
    image_bytes = 0
    aux: list[str] = []
    names: list[str] = []
    seed: list[str] = []
    for name, key in list(keys.items()):
        if not name.startswith(prefix):
            continue
        relative = name[len(prefix) :]
        lower = relative.lower()
        if lower.endswith(ODM_INPUT_EXTENSIONS) and "/" not in relative and "_mask." not in lower:
            images += 1
            image_bytes += key.size
            names.append(relative)
        elif relative in ODM_AUX_FILES:
            aux.append(relative)
        elif relative == SEED_ZIP and unpack_seed:
            members, problem = _seed_members(key.value)
            if problem:
                return InputListing(error=problem)
            seed.extend(members)
    if images == 0:
        return InputListing(0, 0, tuple(aux), error=f"input prefix {uri} is empty: no images found")
    return InputListing(
        images, image_bytes, tuple(sorted(aux)), None, tuple(sorted(names)), tuple(sorted(seed))
    )


def _seed_members(body: bytes) -> tuple[list[str], str | None]:
    """The files of a seed.zip, or why unpacking it fails: not a zip, or a member outside the project (an
    absolute name, a '..' part, a symbolic link). The sandbox's own check, of what the archive would do."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except zipfile.BadZipFile:
        return [], "seed.zip is not a zip archive"
    with archive:
        members = []
        for info in archive.infolist():
            parts = info.filename.replace("\\", "/").split("/")
            symlink = stat.S_ISLNK(info.external_attr >> 16)
            if info.filename.startswith("/") or ".." in parts or symlink:
                return [], f"seed.zip member {info.filename!r} would be written outside the project"
            if not info.is_dir():
                members.append(info.filename)
    return members, None


def upload_products(uri: str | None, files: dict[str, bytes]) -> Upload:
    """Put ``files`` (relative key -> body) under ``uri``; fails like ``aws s3 cp`` without the bucket."""
    if not uri:
        return Upload(error=f"{contract.ENV_OUTPUT_URI} is not set")
    try:
        bucket, prefix = parse_s3_uri(uri)
    except ValueError as exc:
        return Upload(error=str(exc))
    if _bucket_keys(bucket) is None:
        return Upload(error=f"upload failed: NoSuchBucket: the bucket {bucket} does not exist")
    s3 = _s3()
    written = []
    for relative, body in files.items():
        s3.put_object(bucket, prefix + relative, body)
        written.append(prefix + relative)
    return Upload(tuple(written))
