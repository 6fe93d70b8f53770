"""EC2 instance types: which exist, what they hold, their architecture, and the operator's choice among them.

Three sources, each for what it can answer:
- Whether a type exists at all: botocore's EC2 ``InstanceType`` enum (a maintained list of 1400+ names, loaded by
  aws/catalog.py and handed in), never a list of our own.
- What a type holds (vCPUs, memory, GPUs): the table below, for the families ODM users run on. A type outside it
  is not judged on size (the operator cannot know it offline), only on existence and architecture.
- Its architecture: the table, else EC2's naming convention, where a ``g`` after the generation digit means AWS
  Graviton (arm64): m7g, c6gn, r8gd, t4g, g5g, a1 (https://docs.aws.amazon.com/ec2/latest/instancetypes/
  instance-type-names.html, "Processor families").

When a job names no types, the operator picks the smallest that fit from the ``derive`` families of the table,
as ClusterODM picks a machine by image count.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from ..api.types import ODMJobSpec
from .types import TaskSize

# ECS registers less memory than the instance has (kernel, Docker, agent). The agent's own figure varies by type;
# 4% plus 256 MiB covers the AL2023 ECS AMI with room to spare (measured registrations are 95-97% of nominal).
MEMORY_RESERVE_FRACTION = 0.04
MEMORY_RESERVE_MIB = 256
# How many types go into a MixedInstancesPolicy when derived: enough for Spot to find capacity, few enough to stay
# near the cheapest size that fits.
DERIVED_TYPES = 3
# EC2 naming: family = series letters + generation digit(s) + options; "g" first among the options is Graviton.
_GRAVITON_FAMILY = re.compile(r"^(a1|[a-z]+\d+g[a-z]*)$")
# Families with NVIDIA GPUs that the ECS GPU-optimized AMI drives (ECS developer guide, "Amazon ECS task
# definitions for GPU workloads": p2-p5 and g3-g6 with NVIDIA GPUs). g4ad has AMD GPUs, g5g is arm64 (no ECS GPU
# AMI for arm64): neither is here.
NVIDIA_GPU_FAMILIES = frozenset(
    {"g3", "g3s", "g4dn", "g5", "g6", "g6e", "gr6", "p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en"}
)


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpu: int
    memory_gib: int
    gpus: int = 0
    arch: str = "x86_64"
    family_kind: str = "general"  # general | memory | compute | gpu
    derive: bool = False  # one of the families the operator picks from when a job names no types

    @property
    def usable_memory_mib(self) -> int:
        nominal = self.memory_gib * 1024
        return int(nominal * (1 - MEMORY_RESERVE_FRACTION)) - MEMORY_RESERVE_MIB

    @property
    def cpu_units(self) -> int:
        return self.vcpu * 1024

    def fits(self, cpu_units: int, memory_mib: int, gpus: int) -> bool:
        return cpu_units <= self.cpu_units and memory_mib <= self.usable_memory_mib and gpus <= self.gpus


_VCPU = {
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "12xlarge": 48,
    "16xlarge": 64,
    "24xlarge": 96,
    "32xlarge": 128,
    "48xlarge": 192,
}
_UP_TO_16 = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge")
_UP_TO_24 = (*_UP_TO_16, "24xlarge")
_UP_TO_32 = (*_UP_TO_24, "32xlarge")
_UP_TO_48 = (*_UP_TO_32, "48xlarge")
_INTEL_7 = (*_UP_TO_24, "48xlarge")  # 7th-generation Intel families skip 32xlarge


def _family(
    prefix: str,
    gib_per_vcpu: int,
    kind: str,
    sizes: tuple[str, ...],
    arch: str = "x86_64",
    derive: bool = False,
) -> list[InstanceType]:
    return [
        InstanceType(f"{prefix}.{s}", _VCPU[s], _VCPU[s] * gib_per_vcpu, 0, arch, kind, derive) for s in sizes
    ]


def _gpu(name: str, vcpu: int, gib: int, gpus: int) -> InstanceType:
    return InstanceType(name, vcpu, gib, gpus, family_kind="gpu", derive=True)


# Sizes per family as botocore's InstanceType enum lists them (a unit test checks every name exists there).
TABLE: tuple[InstanceType, ...] = (
    *_family("m6i", 4, "general", _UP_TO_24, derive=True),
    *_family("m5", 4, "general", _UP_TO_24, derive=True),
    *_family("r6i", 8, "memory", _UP_TO_24, derive=True),
    *_family("r5", 8, "memory", _UP_TO_24, derive=True),
    *_family("m7g", 4, "general", _UP_TO_16, "arm64", derive=True),
    *_family("r7g", 8, "memory", _UP_TO_16, "arm64", derive=True),
    *_family("m6a", 4, "general", _UP_TO_48),
    *_family("m7a", 4, "general", _UP_TO_48),
    *_family("m7i", 4, "general", _INTEL_7),
    *_family("r6a", 8, "memory", _UP_TO_48),
    *_family("r7a", 8, "memory", _UP_TO_48),
    *_family("r7i", 8, "memory", _INTEL_7),
    *_family("c6i", 2, "compute", _UP_TO_32),
    *_family("c6a", 2, "compute", _UP_TO_48),
    *_family("c7i", 2, "compute", _INTEL_7),
    *_family("m6g", 4, "general", _UP_TO_16, "arm64"),
    *_family("c6g", 2, "compute", _UP_TO_16, "arm64"),
    *_family("c7g", 2, "compute", _UP_TO_16, "arm64"),
    *_family("r6g", 8, "memory", _UP_TO_16, "arm64"),
    *_family("m8g", 4, "general", _INTEL_7, "arm64"),
    *_family("r8g", 8, "memory", _INTEL_7, "arm64"),
    _gpu("g4dn.xlarge", 4, 16, 1),
    _gpu("g4dn.2xlarge", 8, 32, 1),
    _gpu("g4dn.4xlarge", 16, 64, 1),
    _gpu("g4dn.8xlarge", 32, 128, 1),
    _gpu("g4dn.12xlarge", 48, 192, 4),
    _gpu("g4dn.16xlarge", 64, 256, 1),
    _gpu("g5.xlarge", 4, 16, 1),
    _gpu("g5.2xlarge", 8, 32, 1),
    _gpu("g5.4xlarge", 16, 64, 1),
    _gpu("g5.8xlarge", 32, 128, 1),
    _gpu("g5.12xlarge", 48, 192, 4),
    _gpu("g5.16xlarge", 64, 256, 1),
    _gpu("g5.24xlarge", 96, 384, 4),
    _gpu("g5.48xlarge", 192, 768, 8),
    _gpu("p3.2xlarge", 8, 61, 1),
    _gpu("p3.8xlarge", 32, 244, 4),
    _gpu("p3.16xlarge", 64, 488, 8),
)
BY_NAME = {t.name: t for t in TABLE}


def family_of(name: str) -> str:
    return name.split(".", 1)[0]


def architecture_of(name: str) -> str:
    """arm64 or x86_64: the table's, else EC2's naming convention (see the module docstring)."""
    known = BY_NAME.get(name)
    if known is not None:
        return known.arch
    return "arm64" if _GRAVITON_FAMILY.match(family_of(name)) else "x86_64"


def has_nvidia_gpu(name: str) -> bool:
    known = BY_NAME.get(name)
    if known is not None:
        return known.gpus > 0
    return family_of(name) in NVIDIA_GPU_FAMILIES


def derive(
    cpu_units: int, memory_mib: int, gpus: int, arch: str = "x86_64", families: list[str] | None = None
) -> list[str]:
    """The smallest instance types that fit, cheapest shape first; [] when none does. ``families`` (e.g.
    ["m6i", "r6i"]) limits the choice to what an admin allows; empty or None allows every derive family."""
    allowed = set(families or ())
    candidates = [
        t
        for t in TABLE
        if t.derive
        and t.arch == arch
        and t.fits(cpu_units, memory_mib, gpus)
        and (not allowed or family_of(t.name) in allowed)
    ]
    if gpus:
        candidates = [t for t in candidates if t.family_kind == "gpu"]
    else:
        candidates = [t for t in candidates if t.family_kind != "gpu"]
    # Smallest first by memory then vCPU (memory is what ODM runs out of); newer families win ties (table order).
    candidates.sort(key=lambda t: (t.memory_gib, t.vcpu))
    return [t.name for t in candidates[:DERIVED_TYPES]]


@dataclass(frozen=True)
class TypeProblem:
    name: str
    message: str


def problems(
    names: list[str], cpu_units: int, memory_mib: int, gpus: int, arch: str, known: Collection[str]
) -> list[TypeProblem]:
    """Why each listed type cannot serve the task, one problem per type (empty when every type can).

    ECS managed scaling never scales out for a task the *smallest* type of the group cannot place ("Tasks remain
    in PROVISIONING", managed-scaling-behavior), so every listed type must fit, not just one."""
    out: list[TypeProblem] = []
    for name in names:
        if name not in known:
            out.append(TypeProblem(name, "is not an EC2 instance type (botocore's EC2 InstanceType list)"))
            continue
        type_arch = architecture_of(name)
        if type_arch != arch:
            out.append(
                TypeProblem(
                    name, f"is {type_arch} but spec.capacity.architecture is {arch}; list {arch} types"
                )
            )
            continue
        if gpus and not has_nvidia_gpu(name):
            out.append(TypeProblem(name, "has no NVIDIA GPU (the ECS GPU AMI needs one)"))
            continue
        spec = BY_NAME.get(name)
        if spec is not None and not spec.fits(cpu_units, memory_mib, gpus):
            usable = f"{spec.vcpu} vCPU, {spec.usable_memory_mib} MiB usable"
            out.append(
                TypeProblem(name, f"is too small ({usable}{f', {spec.gpus} GPU' if spec.gpus else ''})")
            )
    return out


def unfit(names: list[str], cpu_units: int, memory_mib: int, gpus: int) -> list[str]:
    """The known types among ``names`` that cannot hold the task (types outside the table are not judged)."""
    return [n for n in names if n in BY_NAME and not BY_NAME[n].fits(cpu_units, memory_mib, gpus)]


def fitting_types(spec: ODMJobSpec, size: TaskSize, families: list[str] | None = None) -> list[str]:
    """The job's instance types, or the smallest that fit from the table (within the allowed families)."""
    if spec.capacity.instance_types:
        return list(spec.capacity.instance_types)
    return derive(size.cpu_units, size.memory_mib, size.gpus, spec.capacity.architecture, families)
