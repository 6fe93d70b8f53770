"""Property-based admission: generated ODMJobs, valid and invalid, never crash the validator, and every invalid
one is refused with an error naming the field that was broken.

Three generators: valid jobs built from the allowed values (Fargate size pairs, fitting EC2 sizes, the ODM option
table, S3 URIs with legal buckets); invalid jobs, each a valid one with exactly one mutation whose field path is
known (wrong types, out-of-range numbers, unknown and missing fields, bad S3 URIs and traversal, bad quantities,
unknown/reserved/ill-typed ODM options, injection attempts, oversize strings, unicode); and arbitrary JSON-like
documents. Hypothesis runs derandomized (the same examples on every run); FUZZ_EXAMPLES scales the runs up
(``make chaos`` runs 5000 of each).
"""

from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odm_operator.api.odm_options import OPTIONS, RESERVED
from odm_operator.api.validation import FARGATE_SIZES, bucket_problem, parse_spec
from odm_operator.plan import reconcile as plan
from odm_operator.plan.admission import check_job
from odm_operator.plan.desired import JobRef, plan_job
from odm_operator.settings import Settings

from .helpers import schema_errors

SETTINGS = Settings(odm_gpu_image="opendronemap/odm@sha256:" + "0" * 64)  # an admin's GPU image pin
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
# Where an error may point: every message names a field under one of these.
ROOTS = ("apiVersion", "kind", "metadata", "spec", "<root>")

# ----- valid jobs --------------------------------------------------------------------------------------------

buckets = st.from_regex(r"[a-z0-9][a-z0-9-]{1,30}[a-z0-9]", fullmatch=True).filter(
    lambda b: bucket_problem(b) is None
)
segments = st.from_regex(r"[A-Za-z0-9_=+-][A-Za-z0-9_.=+-]{0,15}", fullmatch=True).filter(
    lambda s: s not in (".", "..")
)
prefixes = st.lists(segments, min_size=1, max_size=4).map(lambda parts: "/".join(parts) + "/")


# Fargate's vCPU sizes as a user writes them: 256 CPU units are 0.25 vCPU, written "250m" or "0.25".
VCPU = {256: "250m", 512: "0.5", 1024: 1, 2048: 2, 4096: 4, 8192: 8, 16384: 16}


def _mib(mib: int) -> str:
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


fargate_resources = st.sampled_from(
    [{"cpu": VCPU[cpu], "memory": _mib(mib)} for cpu, sizes in FARGATE_SIZES.items() for mib in sizes]
)
ec2_resources = st.builds(
    lambda cpu, gib, gpu: {"cpu": cpu, "memory": f"{gib}Gi", **({"gpu": gpu} if gpu else {})},
    st.sampled_from([1, 2, 4, 8, 16]),
    st.sampled_from([2, 4, 8, 16, 32]),
    st.sampled_from([0, 0, 0, 1]),
).filter(lambda r: int(r["memory"][:-2]) >= r["cpu"] * 2)


def _option_value(name: str) -> st.SearchStrategy[Any]:
    option = OPTIONS[name]
    if option.kind == "flag":
        return st.booleans()
    if option.kind == "int":
        return st.integers(int(option.minimum or 0), int(option.maximum or 10**6))
    if option.kind == "float":
        low, high = option.minimum or option.above or 0.0, option.maximum or 1e6
        return st.one_of(
            st.integers(int(low) + 1, int(high)),
            st.floats(low, high, allow_nan=False, allow_infinity=False, exclude_min=option.above is not None),
        )
    if option.kind == "choice":
        return st.sampled_from(option.choices)
    if option.kind == "json":
        return st.just({"type": "FeatureCollection", "features": []})
    return st.from_regex(option.pattern or r"[a-z]{1,8}", fullmatch=True)


odm_options = (
    st.lists(st.sampled_from(sorted(OPTIONS)), max_size=6, unique=True)
    .filter(lambda names: not {"rerun", "rerun-from"} <= set(names))
    .flatmap(  # ODM's exclusive pair
        lambda names: st.fixed_dictionaries({n: _option_value(n) for n in names})
    )
)


@st.composite
def valid_jobs(draw: st.DrawFn) -> dict[str, Any]:
    bucket_in, bucket_out = draw(buckets), draw(buckets)
    source, target = draw(prefixes), draw(prefixes)
    if bucket_in == bucket_out and (target.startswith(source) or source.startswith(target)):
        target = "out-" + target
    spec: dict[str, Any] = {
        "input": {"s3Uri": f"s3://{bucket_in}/{source}"},
        "output": {"s3Uri": f"s3://{bucket_out}/{target}"},
    }
    if draw(st.booleans()):
        spec["capacity"] = {"type": "fargate", "spot": draw(st.booleans())}
        resources = draw(st.none() | fargate_resources)
    else:
        spec["capacity"] = {
            "type": "ec2",
            "spot": draw(st.booleans()),
            "maxInstances": draw(st.integers(1, 50)),
        }
        if draw(st.booleans()):
            spec["capacity"]["provider"] = draw(st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True))
        resources = draw(st.none() | ec2_resources)
    if resources is not None:
        spec["resources"] = resources
    if options := draw(odm_options):
        spec["odm"] = {"options": options}
    for key, values in (
        ("backoffLimit", st.integers(0, 10)),
        ("activeDeadlineSeconds", st.integers(60, 10**9)),
        ("ttlSecondsAfterFinished", st.integers(0, 10**9)),
        ("suspend", st.booleans()),
        ("retryPolicy", st.sampled_from([{"onOutOfMemory": "escalate"}, {"onOutOfMemory": "fail"}])),
    ):
        if draw(st.booleans()):
            spec[key] = draw(values)
    name = draw(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True))
    return {
        "apiVersion": "odm-operator.io/v1alpha1",
        "kind": "ODMJob",
        "metadata": {"name": name, "namespace": "fuzz"},
        "spec": spec,
    }


# ----- one mutation with a known field path ------------------------------------------------------------------

text = st.text(max_size=40)  # any unicode, controls and surrogates' neighbours included
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
not_a_string = junk.filter(lambda v: not isinstance(v, str))
not_a_map = junk.filter(lambda v: not isinstance(v, dict))
not_a_bool = junk.filter(lambda v: not isinstance(v, bool))
not_an_int = junk.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))
bad_quantities = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    text.filter(lambda s: not s.strip() or not s.strip()[0].isdigit()),
    st.from_regex(r"[0-9]{1,4}(GB|gb|Gib|g|KB|iB|\.\.|e)", fullmatch=True),
    st.from_regex(
        r"[1-9]e[1-9][0-9]{6,12}", fullmatch=True
    ),  # overflows any float, and Decimal's default context
    st.integers(max_value=0),
    st.just("0"),
    st.from_regex(r"-[0-9]{1,5}(Gi|Mi)?", fullmatch=True),
)
bad_s3 = st.one_of(
    text.map(lambda s: "https://" + s),
    text.filter(lambda s: not s.startswith("s3://")),
    st.sampled_from(["s3://", "s3:///x", "s3://a/x", "s3://UPPER/x", "s3://-lead/x", "s3://10.0.0.1/x"]),
    st.from_regex(r"s3://[a-z]{3,10}/([a-z]{1,5}/)?\.\.(/[a-z]{1,5})?/?", fullmatch=True),  # traversal
    st.from_regex(r"s3://[a-z]{3,10}/[a-z]{0,5}[\x00-\x1f\x7f][a-z]{0,5}", fullmatch=True),  # control chars
    st.from_regex(r"s3://[a-z]{3,10}/x", fullmatch=True).map(lambda s: s + "y" * 1100),  # longer than a key
    st.from_regex(
        r"s3://xn--[a-z]{3,8}/x|s3://[a-z]{3,8}-s3alias/x|s3://[a-z]{2,8}\.\.[a-z]{2,8}/x", fullmatch=True
    ),
)
injections = st.sampled_from(
    [
        "x; rm -rf /",
        "$(reboot)",
        "`id`",
        "a b",
        "--project-path",
        "../../etc",
        "x\n--copy-to=/",
        "ﬀ",
        "a" * 33,
    ]
)


def _unknown_option(name: str) -> bool:
    return name not in OPTIONS


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    node = obj
    parts = path.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def _delete(obj: dict[str, Any], path: str) -> None:
    node = obj
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[part]
    node.pop(parts[-1], None)


@st.composite
def mutations(draw: st.DrawFn, job: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(kind, field path that must be named, the mutated job)."""
    obj = copy.deepcopy(job)
    spec = obj["spec"]
    kind = draw(
        st.sampled_from(
            [
                "wrong-type",
                "unknown-field",
                "missing",
                "out-of-range",
                "s3",
                "quantity",
                "option-unknown",
                "option-reserved",
                "option-value",
                "option-injection",
                "image",
                "name",
                "header",
                "fargate",
            ]
        )
    )
    if kind == "wrong-type":
        path, bad = draw(
            st.sampled_from(
                [
                    ("spec", not_a_map),
                    ("spec.input", not_a_map),
                    ("spec.output.s3Uri", not_a_string),
                    ("spec.capacity", not_a_map),
                    ("spec.capacity.spot", not_a_bool),
                    ("spec.capacity.maxInstances", not_an_int),
                    (
                        "spec.capacity.instanceTypes",
                        junk.filter(lambda v: v is not None and not isinstance(v, list)),
                    ),
                    ("spec.odm", not_a_map),
                    ("spec.odm.options", junk.filter(lambda v: v is not None and not isinstance(v, dict))),
                    ("spec.odm.image", not_a_string.filter(lambda v: v is not None)),
                    ("spec.backoffLimit", not_an_int.filter(lambda v: v is not None)),
                    ("spec.suspend", not_a_bool.filter(lambda v: v is not None)),
                    ("spec.retryPolicy", not_a_map.filter(lambda v: v is not None)),
                    ("spec.resources", not_a_map.filter(lambda v: v is not None)),
                    ("spec.taskRoleArn", not_a_string.filter(lambda v: v is not None)),
                ]
            ).flatmap(lambda pair: st.tuples(st.just(pair[0]), pair[1]))
        )
        _set(obj, path, bad)
    elif kind == "unknown-field":
        parent = draw(st.sampled_from(["spec", "spec.input", "spec.output", "spec.capacity", "spec.odm"]))
        name = draw(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True))
        known = {
            "spec": {"input", "output", "odm", "resources", "capacity", "taskRoleArn", "retryPolicy", "backoffLimit",
                     "activeDeadlineSeconds", "ttlSecondsAfterFinished", "suspend"},
            "spec.input": {"s3Uri"},
            "spec.output": {"s3Uri"},
            "spec.capacity": {"type", "spot", "instanceTypes", "architecture", "maxInstances", "cluster", "provider"},
            "spec.odm": {"image", "options"},
        }[parent]  # fmt: skip
        if name in known or any(name == f"{k[0]}{k[1:]}" for k in known):
            name = name + "Zz"
        path = f"{parent}.{name}"
        _set(obj, path, draw(junk))
    elif kind == "missing":
        path = draw(
            st.sampled_from(["spec.input", "spec.output", "spec.input.s3Uri", "spec.output.s3Uri", "spec"])
        )
        if path == "spec":
            obj.pop("spec")
        else:
            _delete(obj, path)
    elif kind == "out-of-range":
        path, bad = draw(
            st.sampled_from(
                [
                    ("spec.backoffLimit", st.integers(11, 10**12) | st.integers(-(10**12), -1)),
                    ("spec.capacity.maxInstances", st.integers(1001, 10**12) | st.integers(-(10**6), -1)),
                    ("spec.activeDeadlineSeconds", st.integers(-(10**6), 59)),
                    ("spec.ttlSecondsAfterFinished", st.integers(-(10**12), -1)),
                ]
            ).flatmap(lambda pair: st.tuples(st.just(pair[0]), pair[1]))
        )
        _set(obj, path, bad)
    elif kind == "s3":
        path = draw(st.sampled_from(["spec.input.s3Uri", "spec.output.s3Uri"]))
        _set(obj, path, draw(bad_s3))
    elif kind == "quantity":
        if "resources" not in spec:
            spec["resources"] = {"cpu": 4, "memory": "16Gi"}
            spec["capacity"] = {"type": "ec2"}
        field = draw(st.sampled_from(["cpu", "memory", "disk"]))
        path = f"spec.resources.{field}"
        # disk is optional: null means "sized from memory", not a bad value
        _set(obj, path, draw(bad_quantities.filter(lambda v: v is not None or field != "disk")))
    elif kind == "option-unknown":
        name = draw(st.text(min_size=1, max_size=40).filter(_unknown_option))  # "" has no path of its own
        path = f"spec.odm.options.{name}"
        spec.setdefault("odm", {}).setdefault("options", {})[name] = draw(junk)
    elif kind == "option-reserved":
        name = draw(
            st.sampled_from(sorted(RESERVED)) | st.sampled_from(sorted(OPTIONS)).map(lambda n: "--" + n)
        )
        path = f"spec.odm.options.{name}"
        spec.setdefault("odm", {}).setdefault("options", {})[name] = draw(junk)
    elif kind == "option-value":
        name = draw(st.sampled_from(sorted(OPTIONS)))
        option = OPTIONS[name]
        if option.kind == "flag":
            bad = draw(not_a_bool)
        elif option.kind in ("int", "float"):
            over = (
                st.floats(min_value=(option.maximum or 0) + 1, allow_nan=False)
                if option.maximum is not None
                else st.nothing()
            )
            under = (
                st.floats(max_value=(option.minimum or 0) - 1, allow_nan=False)
                if option.minimum is not None
                else st.nothing()
            )
            bad = draw(
                st.one_of(over, under, text, st.booleans(), st.none(), st.lists(st.integers(), max_size=2))
            )
        elif option.kind == "choice":
            bad = draw(junk.filter(lambda v: v not in option.choices))
        elif option.kind == "json":
            bad = draw(
                st.one_of(st.integers(), st.booleans(), text.filter(lambda v: not v.startswith(("{", "["))))
            )
        else:
            bad = draw(injections)
        path = f"spec.odm.options.{name}"
        spec.setdefault("odm", {}).setdefault("options", {})[name] = bad
    elif kind == "option-injection":
        free_text = sorted(n for n, o in OPTIONS.items() if o.kind == "string")  # the likeliest way in
        name = draw(
            st.sampled_from(free_text)
            | st.sampled_from(sorted(n for n, o in OPTIONS.items() if o.kind == "choice"))
        )
        path = f"spec.odm.options.{name}"
        spec.setdefault("odm", {}).setdefault("options", {})[name] = draw(injections)
    elif kind == "image":
        path = "spec.odm.image"
        image = draw(
            st.one_of(
                text.filter(lambda s: any(not (c.isascii() and (c.isalnum() or c in "./:-_@")) for c in s)),
                st.just(""),
                st.just("a" * 256),
                st.from_regex(r"[a-z]{2,8}:[a-z]{2,5}:[a-z]{2,5}", fullmatch=True),
            )
        )
        spec.setdefault("odm", {})["image"] = image
    elif kind == "name":
        path = "metadata.name"
        obj["metadata"]["name"] = draw(
            st.one_of(
                text.filter(
                    lambda s: any(not (c.isascii() and (c.islower() or c.isdigit() or c in "-.")) for c in s)
                ),
                st.just("a" * 254),
                st.just("-lead"),
                st.just("trail-"),
                not_a_string.filter(lambda v: v is not None),
            )
        )
    elif kind == "header":
        path = draw(st.sampled_from(["apiVersion", "kind"]))
        obj[path] = draw(junk.filter(lambda v: v not in ("odm-operator.io/v1alpha1", "ODMJob")))
    else:  # fargate limits
        spec["capacity"] = {"type": "fargate"}
        path, resources = draw(
            st.sampled_from(
                [
                    ("spec.resources.gpu", {"cpu": 4, "memory": "16Gi", "gpu": 1}),
                    ("spec.resources.cpu", {"cpu": 3, "memory": "16Gi"}),
                    ("spec.resources.cpu", {"cpu": 32, "memory": "64Gi"}),
                    ("spec.resources.memory", {"cpu": 1, "memory": "64Gi"}),
                    ("spec.resources.disk", {"cpu": 4, "memory": "16Gi", "disk": "201Gi"}),
                ]
            )
        )
        spec["resources"] = resources
    return kind, path, obj


invalid_jobs = valid_jobs().flatmap(mutations)

# ----- arbitrary documents -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def names_the_field(error_path: str, path: str) -> bool:
    return error_path == path or error_path.startswith((path + ".", path + "["))


# ----- properties --------------------------------------------------------------------------------------------


@FUZZ
@given(valid_jobs())
def test_a_valid_job_is_accepted_by_the_schema_and_the_operator_and_renders(obj):
    assert schema_errors(obj) == [], "the generator made a job the API server would refuse"
    assert check_job(obj, SETTINGS) == []
    spec = parse_spec(obj["spec"])
    images = None if spec.resources is not None else 40
    desired = plan_job(spec, SETTINGS, JobRef("fuzz", obj["metadata"]["name"], "uid-1"), images=images)
    assert desired.run_task["startedBy"] == "odm/uid-1"


@FUZZ
@given(invalid_jobs)
def test_an_invalid_job_is_refused_with_an_error_naming_the_broken_field(case):
    kind, path, obj = case
    errors = check_job(obj, SETTINGS)
    assert errors, f"{kind}: accepted with {path} broken: {obj}"
    assert any(names_the_field(e.path, path) for e in errors), (
        f"{kind}: no error names {path}: {[str(e) for e in errors]}"
    )
    assert all(e.path.split(".")[0].split("[")[0] in ROOTS and e.message for e in errors)
    # What the operator does with it: Failed/InvalidSpec, its message naming the field, no action at all.
    view = plan.JobView("fuzz", "job", "uid-1", 1, None, {}, tuple(str(e) for e in errors))
    decision = plan.decide(view, None, plan_now(), plan.Timing())
    assert (decision.status["phase"], decision.status["reason"]) == ("Failed", "InvalidSpec")
    assert path.split(".")[-1] in decision.status["message"] or path in decision.status["message"]
    assert decision.actions == []


@FUZZ
@given(invalid_jobs)
def test_what_the_api_server_schema_refuses_the_operator_refuses_too(case):
    _, _, obj = case
    if schema_errors(obj):
        assert check_job(obj, SETTINGS), "the operator accepted a job the CRD schema refuses"


@FUZZ
@given(
    st.one_of(
        json_values, st.dictionaries(st.sampled_from(["apiVersion", "kind", "metadata", "spec"]), json_values)
    )
)
def test_any_document_gets_errors_or_passes_but_never_crashes_the_validator(doc):
    errors = check_job(doc, SETTINGS)
    assert all(e.path.split(".")[0].split("[")[0] in ROOTS for e in errors)


@FUZZ
@given(json_values)
def test_any_spec_gets_errors_or_passes_but_never_crashes_the_validator(spec):
    obj = {
        "apiVersion": "odm-operator.io/v1alpha1",
        "kind": "ODMJob",
        "metadata": {"name": "x"},
        "spec": spec,
    }
    errors = check_job(obj, SETTINGS)
    assert errors or isinstance(spec, dict)


def plan_now():
    from datetime import UTC, datetime

    return datetime(2026, 11, 21, tzinfo=UTC)
