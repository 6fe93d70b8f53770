"""The spec a job runs with after a new generation reached the operator without the CRD's CEL rule."""

import pytest

from odm_operator.api.validation import FieldError, parse_spec
from odm_operator.plan.admission import spec_in_effect

ACCEPTED = parse_spec(
    {
        "input": {"s3Uri": "s3://in/a/"},
        "output": {"s3Uri": "s3://out/a/"},
        "resources": {"cpu": 4, "memory": "16Gi"},
    }
)
CHANGED = ACCEPTED.model_copy(update={"resources": ACCEPTED.resources.model_copy(update={"memory": "64Gi"})})
REFUSED = [FieldError("spec.resources.memory", "bad")]


@pytest.mark.parametrize(
    "accepted, errors, new, suspend, want_errors, want_memory, want_suspend",
    [
        pytest.param(
            None, [], CHANGED, False, [], "64Gi", False, id="never-accepted-takes-the-new-generation"
        ),
        pytest.param(None, REFUSED, None, False, REFUSED, None, False, id="never-accepted-keeps-its-errors"),
        pytest.param(
            ACCEPTED, [], CHANGED, False, [], "16Gi", False, id="a-changed-spec-does-not-reach-the-work"
        ),
        pytest.param(
            ACCEPTED,
            REFUSED,
            None,
            False,
            [],
            "16Gi",
            False,
            id="a-refused-change-does-not-fail-the-running-job",
        ),
        pytest.param(
            ACCEPTED, [], CHANGED, True, [], "16Gi", True, id="suspend-is-the-one-field-that-changes"
        ),
        pytest.param(
            ACCEPTED, REFUSED, None, True, [], "16Gi", True, id="suspend-is-read-even-beside-a-refusal"
        ),
    ],
)
def test_spec_in_effect(accepted, errors, new, suspend, want_errors, want_memory, want_suspend):
    got_errors, spec = spec_in_effect(accepted, errors, new, suspend)
    assert got_errors == want_errors
    if want_memory is None:
        assert spec is None
    else:
        assert (spec.resources.memory, spec.suspend) == (want_memory, want_suspend)
