"""CloudWatch Logs filter patterns with OR terms, which moto does not understand.

CloudWatch Logs "Filter pattern syntax for log events" (AWS docs): a pattern of terms each prefixed with ``?``
matches an event that contains any of them (``?"stage" ?"No space left on device"``); a quoted term is a
literal phrase. moto (moto/logs/utils.py EventMessageFilter) treats any pattern not starting with a letter or a
quote as unsupported and matches every event, so an OR pattern would return the whole log. The sandbox swaps in
a filter that handles OR terms and leaves every other pattern to moto.
"""

from __future__ import annotations

import re
from typing import Any

import moto.logs.models as logs_models

_TERM = re.compile(r'\?\s*("(?:[^"\\]|\\.)*"|\S+)')
_MOTO_FILTER = logs_models.EventMessageFilter


class OrTermsFilter:
    """``?term ?"a phrase" ...``: matches when any term is in the message."""

    def __init__(self, pattern: str) -> None:
        self._moto: Any = None
        stripped = pattern.strip()
        self.terms: list[str] | None = None
        if stripped.startswith("?"):
            self.terms = [t[1:-1] if t.startswith('"') else t for t in _TERM.findall(stripped)]
        else:
            self._moto = _MOTO_FILTER(pattern)

    def matches(self, message: str) -> bool:
        if self.terms is not None:
            return any(term in message for term in self.terms)
        return self._moto.matches(message)


def install() -> None:
    """Use OrTermsFilter for FilterLogEvents (idempotent)."""
    logs_models.EventMessageFilter = OrTermsFilter  # type: ignore[misc,assignment]
