"""Bad ODMJobs are refused with every problem at once, each naming its field path and what is allowed.

Each case says which layer catches it: ``schema`` cases are refused by the CRD's openAPIV3Schema (so kubectl and
the API server refuse them before the operator sees them) and by the operator's own validator; ``semantic`` cases
pass the schema and are caught only by the operator (the job ends Failed/InvalidSpec).
"""

import pytest

from odm_operator.api.odm_options import OPTIONS
from odm_operator.plan.admission import check_job
from odm_operator.settings import Settings

from .helpers import DELETE, job, schema_errors

SETTINGS = Settings()

CASES = [
    # (reason, object, expected path, fragment of the message, layer)
    ("missing input", job(spec__input=DELETE), "spec.input", "is required", "schema"),
    (
        "input not an S3 URI",
        job(spec__input={"s3Uri": "https://x/y"}),
        "spec.input.s3Uri",
        "s3://bucket",
        "schema",
    ),
    ("unknown spec field", job(spec__image="x"), "spec.image", "allowed here: input, output", "schema"),
    ("unknown capacity field", job(spec__capacity__zone="a"), "spec.capacity.zone", "allowed here", "schema"),
    (
        "capacity type typo",
        job(spec__capacity__type="gpu"),
        "spec.capacity.type",
        "'ec2' or 'fargate'",
        "schema",
    ),
    (
        "backoffLimit above 10",
        job(spec__backoffLimit=11),
        "spec.backoffLimit",
        "less than or equal to 10",
        "schema",
    ),
    (
        "backoffLimit negative",
        job(spec__backoffLimit=-1),
        "spec.backoffLimit",
        "greater than or equal to 0",
        "schema",
    ),
    (
        "deadline under 60 s",
        job(spec__activeDeadlineSeconds=59),
        "spec.activeDeadlineSeconds",
        "60",
        "schema",
    ),
    ("ttl negative", job(spec__ttlSecondsAfterFinished=-5), "spec.ttlSecondsAfterFinished", "0", "schema"),
    (
        "gpu negative",
        job(spec__resources__gpu=-1),
        "spec.resources.gpu",
        "greater than or equal to 0",
        "schema",
    ),
    ("memory in GB", job(spec__resources__memory="64GB"), "spec.resources.memory", "Gi", "schema"),
    ("cpu as float", job(spec__resources__cpu=0.5), "spec.resources.cpu", "as a string", "schema"),
    ("memory missing", job(spec__resources={"cpu": 4}), "spec.resources.memory", "is required", "schema"),
    ("suspend not bool", job(spec__suspend="yes"), "spec.suspend", "boolean", "schema"),
    ("spot not bool", job(spec__capacity__spot="maybe"), "spec.capacity.spot", "boolean", "schema"),
    (
        "bad onOutOfMemory",
        job(spec__retryPolicy={"onOutOfMemory": "retry"}),
        "spec.retryPolicy.onOutOfMemory",
        "'escalate' or 'fail'",
        "schema",
    ),
    (
        "maxInstances too big",
        job(spec__capacity__maxInstances=5000),
        "spec.capacity.maxInstances",
        "1000",
        "schema",
    ),
    (
        "instance type malformed",
        job(spec__capacity={"type": "ec2", "instanceTypes": ["R5 LARGE"]}),
        "spec.capacity.instanceTypes[0]",
        "pattern",
        "schema",
    ),
    (
        "cluster name with spaces",
        job(spec__capacity__cluster="my cluster"),
        "spec.capacity.cluster",
        "pattern",
        "schema",
    ),
    ("options not a map", job(spec__odm={"options": ["dsm"]}), "spec.odm.options", "dictionary", "schema"),
    # Semantic: the schema lets these through, the operator refuses them.
    (
        "bucket uppercase",
        job(spec__input={"s3Uri": "s3://Drone/raw/"}),
        "spec.input.s3Uri",
        "lowercase",
        "semantic",
    ),
    (
        "bucket too short",
        job(spec__output={"s3Uri": "s3://ab/x"}),
        "spec.output.s3Uri",
        "3 to 63",
        "semantic",
    ),
    (
        "bucket as IP",
        job(spec__output={"s3Uri": "s3://192.168.1.1/x"}),
        "spec.output.s3Uri",
        "IP address",
        "semantic",
    ),
    (
        "path traversal in prefix",
        job(spec__input={"s3Uri": "s3://drone-raw/a/../b/"}),
        "spec.input.s3Uri",
        "'..'",
        "semantic",
    ),
    (
        "input equals output",
        job(spec__output={"s3Uri": "s3://drone-raw/farm"}),
        "spec.output.s3Uri",
        "must differ",
        "semantic",
    ),
    (
        "output inside input",
        job(spec__output={"s3Uri": "s3://drone-raw/farm/out/"}),
        "spec.output.s3Uri",
        "inside the input",
        "semantic",
    ),
    (
        "unknown ODM option",
        job(spec__odm={"options": {"dsmm": True}}),
        "spec.odm.options.dsmm",
        "did you mean",
        "semantic",
    ),
    (
        "reserved ODM option",
        job(spec__odm={"options": {"project-path": "/x"}}),
        "spec.odm.options.project-path",
        "set by the operator",
        "semantic",
    ),
    (
        "ODM option wrong type",
        job(spec__odm={"options": {"split": "many"}}),
        "spec.odm.options.split",
        "integer",
        "semantic",
    ),
    (
        "bad image reference",
        job(spec__odm={"image": "Open Drone Map!"}),
        "spec.odm.image",
        "image reference",
        "semantic",
    ),
    (
        "fargate with gpu",
        job(spec__resources__gpu=1),
        "spec.resources.gpu",
        "Fargate has no GPUs",
        "semantic",
    ),
    (
        "fargate cpu size",
        job(spec__resources__cpu=3),
        "spec.resources.cpu",
        "0.25, 0.5, 1, 2, 4, 8, 16",
        "semantic",
    ),
    (
        "fargate memory pair",
        job(spec__resources__memory="64Gi"),
        "spec.resources.memory",
        "8 GiB to 30 GiB",
        "semantic",
    ),
    (
        "fargate disk over 200",
        job(spec__resources__disk="300Gi"),
        "spec.resources.disk",
        "21Gi to 200Gi",
        "semantic",
    ),
    (
        "fargate with instance types",
        job(spec__capacity={"type": "fargate", "instanceTypes": ["r5.large"]}),
        "spec.capacity.instanceTypes",
        "ec2 capacity only",
        "semantic",
    ),
    (
        "cpu above ECS limit",
        job(spec__capacity={"type": "ec2"}, spec__resources={"cpu": 256, "memory": "64Gi"}),
        "spec.resources.cpu",
        "192 vCPUs",
        "semantic",
    ),
    (
        "memory below ECS limit",
        job(spec__capacity={"type": "ec2"}, spec__resources={"cpu": 1, "memory": "100Mi"}),
        "spec.resources.memory",
        "1Gi",
        "semantic",
    ),
    (
        "no instance fits",
        job(
            spec__capacity={"type": "ec2", "instanceTypes": ["m5.large"]},
            spec__resources={"cpu": 16, "memory": "64Gi"},
        ),
        "spec.capacity.instanceTypes[0]",
        "m5.large is too small",
        "semantic",
    ),
    (
        "no known type fits a GPU",
        job(spec__capacity={"type": "ec2"}, spec__resources={"cpu": 8, "memory": "8Ti", "gpu": 1}),
        "spec.resources",
        "no instance type",
        "semantic",
    ),
    (
        "wrong apiVersion",
        job(apiVersion="odm-operator.io/v1"),
        "apiVersion",
        "odm-operator.io/v1alpha1",
        "semantic",
    ),
    ("bad name", job(metadata={"name": "Farm_2026"}), "metadata.name", "DNS subdomain", "semantic"),
]


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize(("reason", "obj", "path", "fragment", "layer"), CASES, ids=[c[0] for c in CASES])
def test_bad_objects_are_refused_naming_the_field(reason, obj, path, fragment, layer):
    errors = check_job(obj, SETTINGS)
    matching = [e for e in errors if e.path == path]
    assert matching, f"{reason}: expected an error at {path}, got {[str(e) for e in errors]}"
    assert any(fragment in e.message for e in matching), f"{reason}: {[e.message for e in matching]}"
    schema = schema_errors(obj)
    if layer == "schema":
        assert schema, f"{reason}: the CRD schema should refuse this too"
    elif layer == "semantic":
        assert schema == [], f"{reason}: the schema refuses this, so it is not a semantic-only case: {schema}"


def test_overrides_over_the_ecs_limit_are_refused():
    obj = job(spec__input={"s3Uri": "s3://drone-raw/" + "a" * 1000}, spec__odm={"options": {"dsm": True}})
    errors = check_job(obj, SETTINGS, max_override_chars=1000)
    assert [e.path for e in errors] == ["spec.input.s3Uri"], "the error sits at the field that makes it large"
    assert "ECS allows 1000" in errors[0].message
    assert "spec.input.s3Uri 1017" in errors[0].message, "the message gives each large field's share"


def test_the_largest_job_the_schema_allows_stays_under_the_ecs_override_limit():
    options = {}
    for name, option in OPTIONS.items():
        if name == "rerun":  # ODM refuses it with rerun-from; the longer of the two stays
            continue
        if option.kind == "flag":
            options[name] = True
        elif option.kind == "choice":
            options[name] = max(option.choices, key=len)
        elif option.kind == "string":
            options[name] = "a" * 32
        elif option.kind == "int":  # the longest integer the API server stores (int64)
            options[name] = -(2**63) if option.minimum is None else int(option.maximum or 2**63 - 1)
        elif option.kind == "float":  # the longest float repr
            options[name] = -1.7976931348623157e308 if option.above is None else 1.7976931348623157e308
        # json options (boundary, cameras) are unbounded: the ECS limit check above refuses those too long
    obj = job(
        metadata={"name": "m" * 253, "namespace": "n" * 63},
        spec__input={"s3Uri": "s3://" + "a" * 63 + "/" + "x" * 955},
        spec__output={"s3Uri": "s3://" + "b" * 63 + "/" + "x" * 955},
        spec__capacity={"type": "ec2"},
        spec__resources={"cpu": 4, "memory": "16Gi"},
        spec__odm={"options": options},
    )
    assert check_job(obj, SETTINGS) == []


def test_every_error_is_reported_at_once():
    obj = job(
        spec__input={"s3Uri": "s3://Bad/x"},
        spec__backoffLimit=11,
        spec__resources={"cpu": 3, "memory": "7Gi", "gpu": 1},
        spec__odm={"options": {"dsmm": True, "copy-to": "/x"}},
    )
    paths = {e.path for e in check_job(obj, SETTINGS)}
    assert {
        "spec.input.s3Uri",
        "spec.backoffLimit",
        "spec.resources.cpu",
        "spec.resources.gpu",
        "spec.odm.options.dsmm",
        "spec.odm.options.copy-to",
    } <= paths


def test_a_valid_job_has_no_errors():
    assert check_job(job(), SETTINGS) == []


@pytest.mark.parametrize(
    ("cpu", "memory", "reason"),
    [
        ("250m", "1Gi", "smallest Fargate size that holds the three containers"),
        (1, "8Gi", "top of the 1 vCPU range"),
        (4, "30Gi", "top of the 4 vCPU range"),
        (8, "60Gi", "8 vCPU in 4 GiB steps"),
        (16, "120Gi", "largest Fargate size"),
    ],
)
def test_every_fargate_size_pair_is_accepted(cpu, memory, reason):
    assert check_job(job(spec__resources={"cpu": cpu, "memory": memory}), SETTINGS) == [], reason
