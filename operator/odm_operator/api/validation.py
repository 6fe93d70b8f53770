"""Validation of an ODMJob beyond its types: every problem at once, each naming its field path.

Two layers, both pure: the pydantic models check types, enums, bounds and patterns (what the CRD schema also
checks); the rules here check what spans fields or needs a parser (S3 URIs, quantities, ECS and Fargate limits, ODM
options). Rules run on the raw object, so a type error in one field does not hide a rule broken in another.
The operator runs this before its first AWS call; ``odm-operator validate`` runs the same code offline.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .. import API_GROUP, API_VERSION, KIND
from . import odm_options, split_merge_rules
from .quantity import MIB, QuantityError, format_mib, to_bytes, to_cpu_units, to_gib, to_mib
from .types import ODMJobSpec

API_VERSION_FULL = f"{API_GROUP}/{API_VERSION}"

# ECS task-level bounds (RegisterTaskDefinition): 128..196608 CPU units (0.125..192 vCPU).
ECS_MIN_CPU_UNITS = 128
ECS_MAX_CPU_UNITS = 196_608
# The three containers reserve memory within the task's (ContainerDefinition.memoryReservation: "The total amount
# of memory reserved for all containers within a task must be lower than the task memory value"): two staging
# containers of 256 MiB and at least 512 MiB for ODM, which needs ~4 GiB for anything real. No EC2 instance offers
# more than 24 TiB.
ECS_MIN_MEMORY_MIB = 1024
ECS_MAX_MEMORY_MIB = 24 * 1024 * 1024
# gp3 root volumes are 1..65536 GiB (botocore EC2 model, EbsBlockDevice.VolumeSize); an ec2 job's disk comes on
# top of the 30 GiB the AMI itself needs (plan/desired.py EC2_BASE_DISK_GIB), so it may be at most 65506 GiB.
GP3_MAX_GIB = 65_536
EC2_BASE_DISK_GIB = 30
MAX_DISK_GIB = GP3_MAX_GIB - EC2_BASE_DISK_GIB
# Capacity providers AWS reserves for Fargate; an ec2 job cannot run on them (its task definition is EC2-only).
FARGATE_PROVIDER_NAMES = ("FARGATE", "FARGATE_SPOT")

# Fargate task sizes: CPU units -> allowed memory (MiB). From the ECS developer guide (facts section 4).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
# Fargate ephemeral storage (platform 1.4.0): 21..200 GiB; 20 GiB when not set.
FARGATE_MIN_DISK_GIB = 21
FARGATE_MAX_DISK_GIB = 200

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# An OCI image reference: [registry[:port]/]path[:tag][@digest].
_IMAGE_RE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, order=True)
class FieldError:
    """One problem: the field path (``spec.resources.memory``) and what is allowed there."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    prefix: str  # without a leading slash; "" for the whole bucket

    @property
    def normalized(self) -> str:
        prefix = self.prefix if not self.prefix or self.prefix.endswith("/") else self.prefix + "/"
        return f"s3://{self.bucket}/{prefix}"


def parse_s3_uri(value: str) -> S3Uri:
    """Split ``s3://bucket/prefix``; raises ValueError with a message naming what is allowed."""
    if not isinstance(value, str) or not value.startswith("s3://"):
        raise ValueError(f"must be an S3 URI like s3://bucket/prefix/, got {value!r}")
    rest = value[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    problem = bucket_problem(bucket)
    if problem:
        raise ValueError(f"bucket {bucket!r} {problem}")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in prefix):
        # Controls (C0, DEL and C1) and invisible formatting (zero-width, right-to-left overrides): a prefix that
        # reads like another one in a review is a way to write into someone else's place.
        raise ValueError("the prefix must not contain control or invisible formatting characters")
    if any(part in (".", "..") for part in prefix.split("/")):
        raise ValueError("the prefix must not contain '.' or '..' path segments")
    if len(prefix.encode()) > 1024:
        raise ValueError("the prefix must be at most 1024 bytes (S3's key length)")
    return S3Uri(bucket, prefix)


def bucket_problem(bucket: str) -> str | None:
    """What breaks S3's bucket naming rules, or None."""
    if not 3 <= len(bucket) <= 63:
        return "must be 3 to 63 characters long"
    if not _BUCKET_RE.match(bucket):
        return "may hold only lowercase letters, digits, '.' and '-', and must start and end with a letter or digit"
    if ".." in bucket:
        return "must not contain two adjacent periods"
    try:
        ipaddress.IPv4Address(bucket)
        return "must not be formatted as an IP address"
    except ValueError:
        pass
    if bucket.startswith(_BUCKET_BAD_PREFIXES):
        return f"must not start with {', '.join(_BUCKET_BAD_PREFIXES)}"
    if bucket.endswith(_BUCKET_BAD_SUFFIXES):
        return f"must not end with {', '.join(_BUCKET_BAD_SUFFIXES)}"
    return None


def check_object(obj: Any) -> list[FieldError]:
    """Every problem with an ODMJob object (apiVersion, kind, metadata.name and spec), sorted by path."""
    if not isinstance(obj, dict):
        return [FieldError("<root>", "an ODMJob must be a mapping with apiVersion, kind, metadata and spec")]
    errors: list[FieldError] = []
    if obj.get("apiVersion") != API_VERSION_FULL:
        errors.append(FieldError("apiVersion", f"must be {API_VERSION_FULL}, got {obj.get('apiVersion')!r}"))
    if obj.get("kind") != KIND:
        errors.append(FieldError("kind", f"must be {KIND}, got {obj.get('kind')!r}"))
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    generate = metadata.get("generateName") if isinstance(metadata, dict) else None
    if name is None and generate is None:
        errors.append(FieldError("metadata.name", "is required"))
    elif name is not None and (not isinstance(name, str) or len(name) > 253 or not _NAME_RE.match(name)):
        errors.append(
            FieldError(
                "metadata.name",
                "must be a DNS subdomain: at most 253 lowercase letters, digits, '-' and '.', "
                f"starting and ending with a letter or digit; got {name!r}",
            )
        )
    if "spec" not in obj:
        errors.append(FieldError("spec", "is required"))
    else:
        errors.extend(check_spec(obj["spec"]))
    return sorted(set(errors))


def check_spec(spec: Any) -> list[FieldError]:
    """Every problem with a spec: schema errors first, then the cross-field rules, all at once."""
    if not isinstance(spec, dict):
        return [FieldError("spec", "must be a mapping with input, output and the optional fields")]
    errors = _schema_errors(spec)
    bad = {e.path for e in errors}
    errors.extend(e for e in _rule_errors(spec) if e.path not in bad)
    return sorted(set(errors))


def parse_spec(spec: dict[str, Any]) -> ODMJobSpec:
    """The typed spec of an already checked object."""
    return ODMJobSpec.model_validate(spec)


# ----- schema errors from pydantic, with messages that name what is allowed --------------------------------------


def _schema_errors(spec: dict[str, Any]) -> list[FieldError]:
    try:
        ODMJobSpec.model_validate(spec)
    except ValidationError as exc:
        return [_from_pydantic(err) for err in exc.errors(include_url=False)]
    return []


def _from_pydantic(err: dict[str, Any]) -> FieldError:
    loc = [part for part in err["loc"] if not _is_union_branch(part)]
    path = "spec" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = ", ".join(f.alias or n for n, f in parent.model_fields.items()) if parent else ""
        return FieldError(path, f"unknown field; allowed here: {allowed}")
    if kind == "missing":
        return FieldError(path, "is required")
    if kind == "string_pattern_mismatch" and path.endswith("s3Uri"):
        return FieldError(path, f"must be an S3 URI like s3://bucket/prefix/, got {err.get('input')!r}")
    if kind == "value_error":
        return FieldError(path, str(err["msg"]).removeprefix("Value error, "))
    return FieldError(path, f"{err['msg']}, got {err.get('input')!r}")


def _is_union_branch(part: Any) -> bool:
    return isinstance(part, str) and (part in ("int", "str", "function-after[...]") or "[" in part)


def _model_at(loc: list[Any]) -> Any:
    model: Any = ODMJobSpec
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", (annotation,)):
            if hasattr(candidate, "model_fields"):
                model = candidate
                break
        else:
            return None
    return model


# ----- cross-field rules ----------------------------------------------------------------------------------------


def _rule_errors(spec: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    errors.extend(_s3_errors(spec))
    odm = spec.get("odm") if isinstance(spec.get("odm"), dict) else {}
    for problem in odm_options.check_options(odm.get("options", {})):
        path = "spec.odm.options" + (f".{problem.name}" if problem.name else "")
        errors.append(FieldError(path, problem.message))
    image = odm.get("image")
    if isinstance(image, str) and image and not _IMAGE_RE.match(image):
        errors.append(
            FieldError(
                "spec.odm.image", f"must be an image reference like opendronemap/odm:3.6.0, got {image!r}"
            )
        )
    errors.extend(_resource_errors(spec))
    errors.extend(FieldError(path, message) for path, message in split_merge_rules.problems(spec))
    return errors


def _s3_errors(spec: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    uris: dict[str, S3Uri] = {}
    for side in ("input", "output"):
        block = spec.get(side)
        value = block.get("s3Uri") if isinstance(block, dict) else None
        if not isinstance(value, str):
            continue
        try:
            uris[side] = parse_s3_uri(value)
        except ValueError as exc:
            errors.append(FieldError(f"spec.{side}.s3Uri", str(exc)))
    if "input" in uris and "output" in uris:
        source, target = uris["input"].normalized, uris["output"].normalized
        if source == target:
            errors.append(FieldError("spec.output.s3Uri", "must differ from spec.input.s3Uri"))
        elif target.startswith(source):
            errors.append(
                FieldError(
                    "spec.output.s3Uri",
                    f"must not be inside the input prefix {source} (the products would be staged in as inputs)",
                )
            )
    return errors


def _resource_errors(spec: dict[str, Any]) -> list[FieldError]:
    capacity = spec.get("capacity") if isinstance(spec.get("capacity"), dict) else {}
    capacity_type = capacity.get("type", "ec2")
    errors: list[FieldError] = []
    if capacity_type == "fargate":
        if capacity.get("instanceTypes"):
            errors.append(
                FieldError("spec.capacity.instanceTypes", "applies to ec2 capacity only; remove it")
            )
        if capacity.get("provider"):
            errors.append(
                FieldError(
                    "spec.capacity.provider",
                    "applies to ec2 capacity only; fargate uses FARGATE/FARGATE_SPOT",
                )
            )
    elif capacity.get("provider") in FARGATE_PROVIDER_NAMES:
        errors.append(
            FieldError(
                "spec.capacity.provider",
                f"{capacity['provider']} is a Fargate provider; use capacity.type: fargate "
                f"(with spot: true for FARGATE_SPOT) or name an EC2 capacity provider",
            )
        )
    elif capacity.get("provider") and capacity.get("instanceTypes"):
        errors.append(
            FieldError(
                "spec.capacity.instanceTypes",
                "cannot be combined with spec.capacity.provider: an existing provider brings its own instances",
            )
        )
    resources = spec.get("resources")
    if not isinstance(resources, dict):
        return errors
    cpu_units = _quantity(resources, "cpu", to_cpu_units, errors)
    memory_mib = _quantity(resources, "memory", to_mib, errors)
    disk_gib = _quantity(resources, "disk", to_gib, errors) if resources.get("disk") is not None else None
    if cpu_units is not None and not ECS_MIN_CPU_UNITS <= cpu_units <= ECS_MAX_CPU_UNITS:
        errors.append(
            FieldError("spec.resources.cpu", "must be between 0.125 (125m) and 192 vCPUs (ECS task limits)")
        )
        cpu_units = None
    if memory_mib is not None and not ECS_MIN_MEMORY_MIB <= memory_mib <= ECS_MAX_MEMORY_MIB:
        errors.append(
            FieldError(
                "spec.resources.memory",
                "must be between 1Gi and 24Ti (the task's memory holds ODM plus two 256Mi staging containers; "
                "ECS refuses reservations above the task memory)",
            )
        )
        memory_mib = None
    if disk_gib is not None and capacity_type != "fargate" and disk_gib > MAX_DISK_GIB:
        errors.append(
            FieldError(
                "spec.resources.disk",
                f"must be at most {MAX_DISK_GIB}Gi: the root volume is {EC2_BASE_DISK_GIB}Gi for the AMI plus "
                f"the disk, and gp3 volumes hold at most {GP3_MAX_GIB}Gi",
            )
        )
    gpu = resources.get("gpu", 0)
    wants_gpu = isinstance(gpu, int) and not isinstance(gpu, bool) and gpu > 0
    if capacity_type != "fargate":
        if wants_gpu and capacity.get("architecture") == "arm64":
            errors.append(
                FieldError(
                    "spec.resources.gpu",
                    "ECS has no GPU-optimized AMI for arm64; use capacity.architecture: x86_64 for GPU jobs",
                )
            )
        return errors
    if wants_gpu:
        errors.append(
            FieldError("spec.resources.gpu", "Fargate has no GPUs; use capacity.type: ec2 for GPU jobs")
        )
    if cpu_units is not None and cpu_units not in FARGATE_SIZES:
        allowed = ", ".join(_vcpu(u) for u in FARGATE_SIZES)
        errors.append(
            FieldError("spec.resources.cpu", f"Fargate offers {allowed} vCPUs; got {_vcpu(cpu_units)}")
        )
    elif cpu_units is not None and memory_mib is not None and memory_mib not in FARGATE_SIZES[cpu_units]:
        sizes = FARGATE_SIZES[cpu_units]
        errors.append(
            FieldError(
                "spec.resources.memory",
                f"Fargate with {_vcpu(cpu_units)} vCPU takes {format_mib(sizes[0])} to {format_mib(sizes[-1])} "
                f"in steps of {format_mib(sizes[1] - sizes[0])}; got {format_mib(memory_mib)}",
            )
        )
    if disk_gib is not None and disk_gib > FARGATE_MAX_DISK_GIB:
        errors.append(
            FieldError(
                "spec.resources.disk",
                f"Fargate ephemeral storage is {FARGATE_MIN_DISK_GIB}Gi to {FARGATE_MAX_DISK_GIB}Gi; "
                f"got {disk_gib}Gi (use capacity.type: ec2 for more)",
            )
        )
    return errors


def _quantity(resources: dict[str, Any], key: str, convert: Any, errors: list[FieldError]) -> int | None:
    value = resources.get(key)
    if value is None:
        return None
    try:
        return convert(value)
    except QuantityError as exc:
        errors.append(FieldError(f"spec.resources.{key}", str(exc)))
        return None


def _vcpu(units: int) -> str:
    value = units / 1024
    return str(int(value)) if value.is_integer() else f"{value:g}"


def memory_bytes_in_mib(mib: int) -> int:
    return mib * MIB


__all__ = ["FieldError", "S3Uri", "check_object", "check_spec", "parse_s3_uri", "parse_spec", "to_bytes"]
