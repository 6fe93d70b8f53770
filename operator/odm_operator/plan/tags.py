"""The tags on everything the operator creates, and the content hash that names shared resources."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .. import contract
from ..settings import Settings

HASH_CHARS = 12  # 48 bits: collisions are not a practical concern for a few thousand distinct bodies


def content_hash(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_CHARS]


def tag_map(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Tags on everything the operator creates: the admin's, then ours (managed-by cannot be overridden)."""
    return {**settings.tags, contract.TAG_MANAGED_BY: contract.MANAGED_BY_VALUE, **(extra or {})}


def resource_tags(settings: Settings, extra: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The same tags as ECS takes them: a sorted list of {key, value}."""
    return [{"key": k, "value": v} for k, v in sorted(tag_map(settings, extra).items())]
