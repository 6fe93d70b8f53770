"""Receiving files: each multipart file part streams to S3 as it arrives (one part of memory per file)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from typing import Any

from aiohttp import BodyPartReader

from ..aws.nodeodm.staging import PART_BYTES, S3Prefix, Staging
from .nodeodm import SEED, BadRequest, Upload, check_seed_zip, route_upload

READ_BYTES = 1024 * 1024  # one read from the socket
# seed.zip is checked before it is stored: it is spooled to disk past this size (its central directory is at
# the end, so it cannot be checked while streaming).
SEED_SPOOL_BYTES = 8 * 1024 * 1024


async def receive(
    part: BodyPartReader, staging: Staging, images: S3Prefix, max_bytes: int
) -> tuple[Upload, int]:
    """Store one uploaded file under ``images`` (as NodeODM routes it); returns where it went and its size.
    Refuses (BadRequest) an odd name or a file over ``max_bytes``, leaving nothing of it in S3."""
    upload = route_upload(part.filename)
    key = images.key(upload.stored_as)
    if upload.stored_as == SEED:
        return upload, await _receive_seed(part, staging, images.bucket, key, max_bytes)
    writer = _Writer(staging, images.bucket, key)
    total = 0
    try:
        while chunk := await part.read_chunk(READ_BYTES):
            total += len(chunk)
            if total > max_bytes:
                raise BadRequest(f"File {part.filename!r} is larger than the limit of {max_bytes} bytes")
            await writer.write(chunk)
        await writer.close()
    except BaseException:
        await writer.abort()
        raise
    return upload, total


async def _receive_seed(part: BodyPartReader, staging: Staging, bucket: str, key: str, max_bytes: int) -> int:
    with tempfile.SpooledTemporaryFile(max_size=SEED_SPOOL_BYTES) as spool:
        total = 0
        while chunk := await part.read_chunk(READ_BYTES):
            total += len(chunk)
            if total > max_bytes:
                raise BadRequest(f"File {SEED!r} is larger than the limit of {max_bytes} bytes")
            spool.write(chunk)
        spool.seek(0)
        await asyncio.to_thread(check_seed_zip, spool)
        spool.seek(0)
        writer = _Writer(staging, bucket, key)
        try:
            while data := spool.read(PART_BYTES):
                await writer.write(data)
            await writer.close()
        except BaseException:
            await writer.abort()
            raise
    return total


class _Writer:
    """PutObject for a file smaller than one part, else a multipart upload fed part by part."""

    def __init__(self, staging: Staging, bucket: str, key: str):
        self.staging, self.bucket, self.key = staging, bucket, key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    async def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= PART_BYTES:
            # The buffer itself becomes the part (no copy): parts need not be equal, only >= 5 MiB but the last.
            part, self.buffer = self.buffer, bytearray()
            await self._send(part)

    async def _send(self, data: bytes | bytearray) -> None:
        if self.upload_id is None:
            self.upload_id = await asyncio.to_thread(self.staging.start_multipart, self.bucket, self.key)
        number = len(self.parts) + 1
        self.parts.append(
            await asyncio.to_thread(
                self.staging.upload_part, self.bucket, self.key, self.upload_id, number, data
            )
        )

    async def close(self) -> None:
        if self.upload_id is None:
            await asyncio.to_thread(self.staging.put_bytes, self.bucket, self.key, bytes(self.buffer))
        else:
            if self.buffer:
                await self._send(bytes(self.buffer))
            await asyncio.to_thread(
                self.staging.complete_multipart, self.bucket, self.key, self.upload_id, self.parts
            )
        self.buffer = bytearray()

    async def abort(self) -> None:
        self.buffer = bytearray()
        if self.upload_id is not None:
            # Best effort: removing the session aborts whatever is left (delete_prefix).
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.staging.abort_multipart, self.bucket, self.key, self.upload_id)
