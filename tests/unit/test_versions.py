"""plan/versions.py: which version of a job the runtime keeps, and which arrivals need a pass."""

from __future__ import annotations

import pytest

from odm_operator.plan.versions import Arrival, arrival

SPEC = {"input": {"s3Uri": "s3://in/a/"}, "output": {"s3Uri": "s3://out/a/"}}


def job(rv, generation=1, spec=SPEC, deleting=False):
    meta = {"uid": "u1", "resourceVersion": rv, "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-21T10:00:00Z"
    return {"metadata": meta, "spec": spec}


@pytest.mark.parametrize(
    ("known", "new", "ours", "expected"),
    [
        # The watch's first sight of a job; an answer to our write for a job no longer held (gone).
        (None, job("5"), False, Arrival(True, True)),
        (None, job("5"), True, Arrival(False, False)),
        # The echo of our own write, and an older version (a re-listing racing the watch).
        (job("7"), job("7"), False, Arrival(False, False)),
        (job("7"), job("6"), False, Arrival(False, False)),
        (job("7"), job("6"), True, Arrival(False, False)),
        # A newer watch event always gets a pass; our own answer only when it carries someone else's change.
        (job("7"), job("8"), False, Arrival(True, True)),
        (job("7"), job("8"), True, Arrival(True, False)),
        (job("7"), job("8", deleting=True), True, Arrival(True, True)),
        (job("7", deleting=True), job("8", deleting=True), True, Arrival(True, False)),
        (
            job("7"),
            job("8", generation=2, spec={**SPEC, "output": {"s3Uri": "s3://out/b/"}}),
            True,
            Arrival(True, True, ["output"]),
        ),
        # suspend is the one field a user may change: a new generation, but no drift.
        (job("7"), job("8", generation=2, spec={**SPEC, "suspend": True}), False, Arrival(True, True)),
        # Versions that cannot be compared are taken as newer.
        (job("7"), job(""), False, Arrival(True, True)),
    ],
)
def test_arrival(known, new, ours, expected):
    assert arrival(known, new, ours) == expected
