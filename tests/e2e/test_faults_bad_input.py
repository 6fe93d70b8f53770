"""Bad input end to end: generated invalid ODMJobs (the hypothesis generator of tests/unit/test_fuzz_admission.py)
through the real kubectl and the running operator. Each one is refused by the API server's schema naming the field,
or ends Failed/InvalidSpec with a message naming the field; none of them costs a single AWS call.

BAD_INPUTS sets how many (``make chaos`` runs 60).
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odm_operator.plan.admission import check_job
from odm_operator.settings import Settings

from ..unit.test_fuzz_admission import invalid_jobs, names_the_field
from .conftest import E2E
from .test_lifecycle import job_calls

pytestmark = pytest.mark.e2e

BAD_INPUTS = int(os.environ.get("BAD_INPUTS", "10"))
# Mutations of the object's identity (name, apiVersion, kind) are the API server's own business, not a job's. Half
# the sample comes from mutations the schema lets through (the operator must refuse those itself).
SEMANTIC = ("s3", "option-unknown", "option-reserved", "option-value", "option-injection", "fargate")
SETTINGS = Settings()


def without_nulls(value: Any) -> Any:
    """What kubectl apply sends: a null in a map means "unset this field", so the key is dropped."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def still_invalid(case: tuple[str, str, dict]) -> bool:
    """The job stays invalid as kubectl sends it (``spec.odm.x: null`` is simply not sent)."""
    _, path, obj = case
    return any(names_the_field(e.path, path) for e in check_job(without_nulls(obj), SETTINGS))


SCHEMA_LEVEL = invalid_jobs.filter(lambda case: case[0] not in ("name", "header", *SEMANTIC)).filter(
    still_invalid
)
SEMANTIC_LEVEL = invalid_jobs.filter(lambda case: case[0] in SEMANTIC).filter(still_invalid)


def generated(strategy: st.SearchStrategy, count: int) -> list[tuple[str, str, dict]]:
    """``count`` distinct examples of ``strategy``, the same on every run."""
    found: dict[str, tuple[str, str, dict]] = {}

    @settings(
        max_examples=count * 3,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case):
        if len(found) < count:
            found.setdefault(repr(case), case)

    collect()
    assert len(found) == count, f"only {len(found)} distinct examples"
    return list(found.values())


def test_generated_invalid_jobs_are_refused_or_fail_naming_the_field_with_no_aws_call(e2e: E2E):
    ns = e2e.namespace()
    cases = generated(SCHEMA_LEVEL, BAD_INPUTS // 2) + generated(SEMANTIC_LEVEL, BAD_INPUTS - BAD_INPUTS // 2)
    e2e.quiet()
    before = e2e.calls()
    applied: dict[str, tuple[str, str]] = {}
    refused = 0
    for i, (kind, path, obj) in enumerate(cases):
        name = f"bad-{i:02d}"
        obj = without_nulls(obj)
        obj["metadata"] = {"name": name, "namespace": ns}
        result = e2e.apply(obj, check=False)
        if result.returncode != 0:
            refused += 1
            field = path.removeprefix("spec.").split(".")[0]
            assert field in result.stderr, f"{kind}: refused without naming {path}: {result.stderr}"
            assert e2e.get(ns, name) is None
        else:
            applied[name] = (kind, path)
    deadline = time.monotonic() + 30
    pending = dict(applied)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            status = (e2e.get(ns, name) or {}).get("status") or {}
            if status.get("phase"):
                kind, path = pending.pop(name)
                assert (status["phase"], status["reason"]) == ("Failed", "InvalidSpec"), (kind, path, status)
                assert path in status["message"], (
                    f"{kind}: the message does not name {path}: {status['message']}"
                )
        time.sleep(0.1)
    assert not pending, f"no status within 30 s: {pending}"
    print(
        f"\nBad input: {len(cases)} generated jobs, {refused} refused by the schema, {len(applied)} InvalidSpec"
    )
    assert job_calls(e2e.calls(), before) == {}, "an invalid job made AWS calls"
