"""What an EC2 instance type offers to ECS: vCPUs, memory and GPUs.

The simulated agent registers container instances with these resources so that placement behaves as on AWS: a
task asking for 16384 MiB does not fit an m5.xlarge (16 GiB nominal, less once the OS and the ECS agent take
their share) and waits for a bigger instance. Only the families the operator is likely to pick are listed; an
unknown family falls back to general-purpose proportions so that a test with an odd type still runs.
"""

from __future__ import annotations

from dataclasses import dataclass

# vCPUs by size suffix for the regular (non-GPU) families.
SIZE_VCPUS = {
    "medium": 1,
    "large": 2,
    "xlarge": 4,
    "2xlarge": 8,
    "4xlarge": 16,
    "8xlarge": 32,
    "9xlarge": 36,
    "12xlarge": 48,
    "16xlarge": 64,
    "18xlarge": 72,
    "24xlarge": 96,
    "32xlarge": 128,
}

# GiB of memory per vCPU: general purpose (m), compute optimised (c), memory optimised (r).
GIB_PER_VCPU = {
    "m5": 4,
    "m5a": 4,
    "m5d": 4,
    "m5n": 4,
    "m6a": 4,
    "m6i": 4,
    "m7i": 4,
    "c5": 2,
    "c5a": 2,
    "c5d": 2,
    "c6a": 2,
    "c6i": 2,
    "c7i": 2,
    "r5": 8,
    "r5a": 8,
    "r5d": 8,
    "r5n": 8,
    "r6a": 8,
    "r6i": 8,
    "r7i": 8,
}

# GPU instance types do not follow a per-vCPU rule: (vCPUs, GiB, GPUs) from the EC2 instance type pages.
GPU_TYPES = {
    "g4dn.xlarge": (4, 16, 1),
    "g4dn.2xlarge": (8, 32, 1),
    "g4dn.4xlarge": (16, 64, 1),
    "g4dn.8xlarge": (32, 128, 1),
    "g4dn.12xlarge": (48, 192, 4),
    "g4dn.16xlarge": (64, 256, 1),
    "g4dn.metal": (96, 384, 8),
    "g5.xlarge": (4, 16, 1),
    "g5.2xlarge": (8, 32, 1),
    "g5.4xlarge": (16, 64, 1),
    "g5.8xlarge": (32, 128, 1),
    "g5.12xlarge": (48, 192, 4),
    "g5.16xlarge": (64, 256, 1),
    "g5.24xlarge": (96, 384, 4),
    "g5.48xlarge": (192, 768, 8),
    "p3.2xlarge": (8, 61, 1),
    "p3.8xlarge": (32, 244, 4),
    "p3.16xlarge": (64, 488, 8),
    "p3dn.24xlarge": (96, 768, 8),
}

# Burstable types show up in small test stacks: (vCPUs, GiB).
T3_TYPES = {
    "t3.micro": (2, 1),
    "t3.small": (2, 2),
    "t3.medium": (2, 4),
    "t3.large": (2, 8),
    "t3.xlarge": (4, 16),
    "t3.2xlarge": (8, 32),
}

# ECS registers less memory than the nominal size: the kernel, the Docker daemon and the agent keep some.
# Real figures vary by AMI and type; 5% is a round approximation that keeps "a 16 GiB task on a 16 GiB
# instance" failing to place, as it does on AWS.
RESERVED_MEMORY_FRACTION = 0.05

# ECS counts CPU in units of 1/1024 vCPU.
CPU_UNITS_PER_VCPU = 1024


@dataclass(frozen=True)
class InstanceResources:
    instance_type: str
    vcpus: int
    memory_gib: int
    gpus: int

    @property
    def cpu_units(self) -> int:
        return self.vcpus * CPU_UNITS_PER_VCPU

    @property
    def registered_memory_mib(self) -> int:
        """Memory the ECS agent registers, in MiB."""
        return int(self.memory_gib * 1024 * (1 - RESERVED_MEMORY_FRACTION))


def resources_of(instance_type: str) -> InstanceResources:
    """The resources of ``instance_type``; unknown families get general-purpose proportions (4 GiB/vCPU)."""
    if instance_type in GPU_TYPES:
        vcpus, gib, gpus = GPU_TYPES[instance_type]
        return InstanceResources(instance_type, vcpus, gib, gpus)
    if instance_type in T3_TYPES:
        vcpus, gib = T3_TYPES[instance_type]
        return InstanceResources(instance_type, vcpus, gib, 0)
    family, _, size = instance_type.partition(".")
    vcpus = 96 if size == "metal" else SIZE_VCPUS.get(size, 4)
    return InstanceResources(instance_type, vcpus, vcpus * GIB_PER_VCPU.get(family, 4), 0)
