"""Which version of a job the runtime keeps, and whether it needs a pass. Pure.

Versions arrive from two places: the watch (every event, including the echo of the operator's own writes) and the
API server's answer to each write of the operator's (status patch, finalizer patch), which is the newest version
at that moment. The newer resourceVersion wins; an equal or older one is an echo or a re-listing racing the
watch. A newer watch event always gets a pass; an answer to our own write only when it carries someone else's
change that the watch's older events will now never deliver: a new generation or a deletion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .status import spec_drift


@dataclass(frozen=True)
class Arrival:
    keep: bool  # the new version replaces the kept one
    needs_pass: bool
    drift: list[str] = field(
        default_factory=list
    )  # spec fields changed with a new generation (suspend aside)


def arrival(known: dict[str, Any] | None, new: dict[str, Any], ours: bool) -> Arrival:
    """What to do with version ``new`` of a job of which ``known`` is kept (None: none); ``ours`` when ``new`` is
    the API server's answer to a write of the operator."""
    if known is None:
        return Arrival(keep=not ours, needs_pass=not ours)  # an answer for a job we do not hold: it is gone
    old_meta, meta = known["metadata"], new["metadata"]
    known_rv, rv = _rv(old_meta.get("resourceVersion")), _rv(meta.get("resourceVersion"))
    if known_rv is not None and rv is not None and rv <= known_rv:
        return Arrival(keep=False, needs_pass=False)
    new_generation = old_meta.get("generation") != meta.get("generation")
    drift = spec_drift(known.get("spec"), new.get("spec")) if new_generation else []
    deleting = bool(meta.get("deletionTimestamp")) and not old_meta.get("deletionTimestamp")
    return Arrival(keep=True, needs_pass=not ours or new_generation or deleting, drift=drift)


def _rv(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
