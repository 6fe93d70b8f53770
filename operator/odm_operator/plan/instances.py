"""EC2 instance types the operator can choose from, and the choice itself.

When a job names no instance types, the operator picks the smallest types that fit its resources from a short
table of current families (general purpose, memory optimized, GPU), as ClusterODM picks a machine by image count.
The table is deliberately small: these are the families ODM users run on, all available in every large Region.
"""

from __future__ import annotations

from dataclasses import dataclass

# ECS registers less memory than the instance has (kernel, Docker, agent). The agent's own figure varies by type;
# 4% plus 256 MiB covers the AL2023 ECS AMI with room to spare (measured registrations are 95-97% of nominal).
MEMORY_RESERVE_FRACTION = 0.04
MEMORY_RESERVE_MIB = 256
# How many types go into a MixedInstancesPolicy when derived: enough for Spot to find capacity, few enough to stay
# near the cheapest size that fits.
DERIVED_TYPES = 3


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpu: int
    memory_gib: int
    gpus: int = 0
    arch: str = "x86_64"
    family_kind: str = "general"  # general | memory | gpu

    @property
    def usable_memory_mib(self) -> int:
        nominal = self.memory_gib * 1024
        return int(nominal * (1 - MEMORY_RESERVE_FRACTION)) - MEMORY_RESERVE_MIB

    @property
    def cpu_units(self) -> int:
        return self.vcpu * 1024

    def fits(self, cpu_units: int, memory_mib: int, gpus: int) -> bool:
        return cpu_units <= self.cpu_units and memory_mib <= self.usable_memory_mib and gpus <= self.gpus


_SIZES = ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")
_VCPU = (2, 4, 8, 16, 32, 48, 64, 96)


def _family(prefix: str, gib_per_vcpu: int, kind: str, arch: str = "x86_64") -> list[InstanceType]:
    return [
        InstanceType(f"{prefix}.{s}", v, v * gib_per_vcpu, 0, arch, kind)
        for s, v in zip(_SIZES, _VCPU, strict=True)
    ]


TABLE: tuple[InstanceType, ...] = (
    *_family("m6i", 4, "general"),
    *_family("m5", 4, "general"),
    *_family("r6i", 8, "memory"),
    *_family("r5", 8, "memory"),
    *_family("m7g", 4, "general", "arm64"),
    *_family("r7g", 8, "memory", "arm64"),
    InstanceType("g4dn.xlarge", 4, 16, 1, family_kind="gpu"),
    InstanceType("g4dn.2xlarge", 8, 32, 1, family_kind="gpu"),
    InstanceType("g4dn.4xlarge", 16, 64, 1, family_kind="gpu"),
    InstanceType("g4dn.8xlarge", 32, 128, 1, family_kind="gpu"),
    InstanceType("g4dn.12xlarge", 48, 192, 4, family_kind="gpu"),
    InstanceType("g4dn.16xlarge", 64, 256, 1, family_kind="gpu"),
    InstanceType("g5.xlarge", 4, 16, 1, family_kind="gpu"),
    InstanceType("g5.2xlarge", 8, 32, 1, family_kind="gpu"),
    InstanceType("g5.4xlarge", 16, 64, 1, family_kind="gpu"),
    InstanceType("g5.8xlarge", 32, 128, 1, family_kind="gpu"),
    InstanceType("g5.12xlarge", 48, 192, 4, family_kind="gpu"),
    InstanceType("g5.16xlarge", 64, 256, 1, family_kind="gpu"),
    InstanceType("g5.24xlarge", 96, 384, 4, family_kind="gpu"),
    InstanceType("g5.48xlarge", 192, 768, 8, family_kind="gpu"),
    InstanceType("p3.2xlarge", 8, 61, 1, family_kind="gpu"),
    InstanceType("p3.8xlarge", 32, 244, 4, family_kind="gpu"),
    InstanceType("p3.16xlarge", 64, 488, 8, family_kind="gpu"),
)
BY_NAME = {t.name: t for t in TABLE}


def derive(
    cpu_units: int, memory_mib: int, gpus: int, arch: str = "x86_64", families: list[str] | None = None
) -> list[str]:
    """The smallest instance types that fit, cheapest shape first; [] when none does. ``families`` (e.g.
    ["m6i", "r6i"]) limits the choice to what an admin allows; empty or None allows the whole table."""
    allowed = set(families or ())
    candidates = [
        t
        for t in TABLE
        if t.arch == arch
        and t.fits(cpu_units, memory_mib, gpus)
        and (not allowed or t.name.split(".")[0] in allowed)
    ]
    if gpus:
        candidates = [t for t in candidates if t.family_kind == "gpu"]
    else:
        candidates = [t for t in candidates if t.family_kind != "gpu"]
    # Smallest first by memory then vCPU (memory is what ODM runs out of); newer families win ties (table order).
    candidates.sort(key=lambda t: (t.memory_gib, t.vcpu))
    chosen: list[str] = []
    for t in candidates:
        if len(chosen) == DERIVED_TYPES:
            break
        chosen.append(t.name)
    return chosen


def unfit(names: list[str], cpu_units: int, memory_mib: int, gpus: int) -> list[str]:
    """The known types among ``names`` that cannot hold the task (unknown types are not judged)."""
    return [n for n in names if n in BY_NAME and not BY_NAME[n].fits(cpu_units, memory_mib, gpus)]
