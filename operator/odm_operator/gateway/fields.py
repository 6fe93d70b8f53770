"""Reading what a request carries: small form fields with a size cap, integers, the API server's refusals."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client.rest import ApiException

from . import nodeodm as n

# A form field (name, options, ...) is small; a bigger one is refused rather than held in memory.
MAX_FIELD_BYTES = 1024 * 1024


async def text_field(part: Any) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise n.BadRequest(f"Field {part.name!r} is larger than {MAX_FIELD_BYTES} bytes")
    return data.decode("utf-8", "replace")


def api_message(exc: ApiException) -> str:
    try:
        return json.loads(exc.body).get("message") or str(exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


def integer(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise n.BadRequest(f"Invalid line number {value!r}: expected an integer") from exc
