"""Resources from the dataset: ODM's memory table by image count, with vCPU and disk to match.

ODM's installation guide gives RAM by image count (40 -> 4 GB ... 5000 -> 256 GB); the GB there are decimal
gigabytes and the task gets exactly that (``64G``), which still fits a 64 GiB instance after ECS's reserve.
vCPU follows the memory-optimized ratio (8 GB per vCPU, at least 2); disk follows ClusterODM's image-size mapping.

Split-merge on one task (``odm.options.split``): ODM runs the submodels one after another (stages/splitmerge.py),
so memory follows the submodel size (``split`` images on average, ODM's definition of the option) while disk
holds the whole dataset; above ClusterODM's last row disk grows at that row's rate (0.5 GB per image). Without
split, a dataset above the table cannot be sized and the error says to set split. (image_groups.txt also
splits, into groups the operator does not read: size such jobs with spec.resources.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..api.quantity import format_mib
from ..api.validation import FARGATE_MAX_DISK_GIB, FARGATE_SIZES
from ..contract import ODM_MEMORY_TABLE_GB

# Disk (GB) by image count, from ClusterODM's imageSizeMapping for AWS.
DISK_TABLE_GB = ((40, 60), (250, 160), (500, 320), (1500, 640), (2500, 1200), (3500, 2000), (5000, 2500))
DISK_GB_PER_IMAGE_ABOVE = 2500 / 5000  # ClusterODM's last row: 2500 GB for 5000 images
GB_PER_VCPU = 8
MIN_VCPU = 2
_MIB = 2**20


@dataclass(frozen=True)
class Sizing:
    images: int
    cpu: str  # quantity strings, as they would appear in spec.resources
    memory: str
    disk: str
    rule: str


class SizingError(ValueError):
    """The dataset cannot be sized (too many images for one node, or for Fargate)."""


def size_for(images: int, fargate: bool = False, split: int | None = None) -> Sizing:
    """Resources for a dataset of ``images`` images (submodels of ``split`` images when it splits); raises
    SizingError above ODM's table."""
    at_once = images
    if split is not None and split >= 1 and images > split:
        at_once = split
    row = next(((limit, gb) for limit, gb in ODM_MEMORY_TABLE_GB if at_once <= limit), None)
    if row is None:
        top = ODM_MEMORY_TABLE_GB[-1][0]
        if at_once < images:
            raise SizingError(
                f"submodels of {at_once} images (odm.options.split) are more than one ODM node handles (table "
                f"ends at {top}); set a smaller split (e.g. split: 400), or give spec.resources explicitly"
            )
        raise SizingError(
            f"{images} images is more than one ODM node handles (table ends at {top}); set odm.options.split "
            f"(e.g. split: 400) to process it in submodels, or give spec.resources explicitly"
        )
    limit, gb = row
    disk_gb = next((d for lim, d in DISK_TABLE_GB if images <= lim), None)
    if disk_gb is None:
        disk_gb = int(-(-images * DISK_GB_PER_IMAGE_ABOVE // 1))
    vcpu = max(MIN_VCPU, gb // GB_PER_VCPU)
    rule = f"<={limit} images -> {gb} GB"
    if at_once < images:
        rule = f"split {at_once}: submodels <={limit} images -> {gb} GB; {images} images -> disk {disk_gb} GB"
    if not fargate:
        return Sizing(images, str(vcpu), f"{gb}G", f"{disk_gb}G", rule)
    memory_mib = -(-gb * 10**9 // _MIB)
    for cpu_units, sizes in FARGATE_SIZES.items():
        if cpu_units < vcpu * 1024:
            continue
        fit = next((m for m in sizes if m >= memory_mib), None)
        if fit is not None:
            disk = min(disk_gb, FARGATE_MAX_DISK_GIB)
            note = f" (Fargate: {fit // 1024} GiB, {cpu_units // 1024} vCPU" + (
                f", disk capped at {FARGATE_MAX_DISK_GIB}Gi)" if disk < disk_gb else ")"
            )
            return Sizing(images, _vcpu(cpu_units), f"{fit}Mi", f"{disk}Gi", rule + note)
    raise SizingError(
        f"{images} images need {gb} GB of memory, more than Fargate's 120 GB; use capacity.type: ec2"
    )


def _vcpu(units: int) -> str:
    return str(units // 1024) if units % 1024 == 0 else f"{units * 1000 // 1024}m"


def escalate_memory(memory_mib: int, cpu_units: int, fargate: bool) -> tuple[int, int] | None:
    """(memory MiB, CPU units) one row up ODM's memory table from ``memory_mib``; None above the table.

    CPU grows to the row's vCPU when that is more; on Fargate the pair is rounded up to a valid Fargate size."""
    for _, gb in ODM_MEMORY_TABLE_GB:
        mib = -(-gb * 10**9 // _MIB)
        if mib > memory_mib:
            cpu = max(cpu_units, max(MIN_VCPU, gb // GB_PER_VCPU) * 1024)
            if not fargate:
                return mib, cpu
            for units, sizes in FARGATE_SIZES.items():
                fit = next((m for m in sizes if m >= mib), None)
                if units >= cpu and fit is not None:
                    return fit, units
            return None
    return None


def escalated(size: Any, steps: int, fargate: bool, ceiling_mib: int, ceiling: str) -> tuple[Any, str | None]:
    """``size`` (a TaskSize) after ``steps`` out-of-memory escalations, or the unchanged size and why it cannot
    grow: no larger row in ODM's table, or the memoryCeiling setting (``ceiling``, as the admin wrote it)."""
    for _ in range(steps):
        step = escalate_memory(size.memory_mib, size.cpu_units, fargate)
        if step is None or step[0] > ceiling_mib:
            return size, (
                f"ODM ran out of memory with {format_mib(size.memory_mib)} and there is no larger size within "
                f"the memory ceiling ({ceiling}); split the dataset (odm.options.split)"
            )
        size = dataclasses.replace(size, memory_mib=step[0], cpu_units=step[1])
    return size, None
