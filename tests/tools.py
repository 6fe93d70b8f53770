"""The kubectl and helm binaries the tests run: `make tools` unpacks them into .tools/bin (make test does)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tool_binary(name: str) -> str:
    local = REPO / ".tools" / "bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: run `make tools` (make test does)")
    return found
