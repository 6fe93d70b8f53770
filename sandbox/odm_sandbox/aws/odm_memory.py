"""The simulated ODM's own memory model: when a run of ODM on a task is killed for memory (exit 137).

Independent of the operator's sizing (plan/sizing.py, contract.py): written from ODM's documentation and source,
not from the operator's table, so the sandbox can tell the operator's sizing wrong.

- OpenDroneMap/docs source/installation.rst, "Hardware Recommendations": RAM (or RAM + swap) by the number of
  images processed at once: 40 -> 4, 250 -> 16, 500 -> 32, 1500 -> 64, 2500 -> 128, 3500 -> 192, 5000 -> 256 GB.
  The docs stop at 5000; ODM itself does not, so above the table the need grows at the last rows' slope
  (64 GB per 1500 images). ECS tasks have no swap, so the figure is RAM: decimal gigabytes (10**9 bytes).
- OpenDroneMap/ODM:opendm/config.py, --max-concurrency: "Peak memory requirement is ~1GB per thread and
  2 megapixel image resolution"; its default is multiprocessing.cpu_count(), i.e. the host's CPUs inside a
  container. So a run also needs about 1 GB per process it runs at once.
- Split-merge (stages/splitmerge.py) runs the submodels one after the other on the same machine: what must fit
  is one submodel, not the dataset.
"""

from __future__ import annotations

# (images at once, GB) from ODM's installation guide.
DOCS_TABLE_GB = ((40, 4), (250, 16), (500, 32), (1500, 64), (2500, 128), (3500, 192), (5000, 256))
# Above the table: the slope of its last rows (256 - 192 GB over 5000 - 3500 images).
GB_PER_IMAGE_ABOVE = (256 - 192) / (5000 - 3500)
# ODM's help for --max-concurrency.
GB_PER_PROCESS = 1
_GB = 10**9
_MIB = 2**20


def needed_gb(images_at_once: int, processes: int | None) -> float:
    """GB a run holding ``images_at_once`` images in memory with ``processes`` workers needs at its peak."""
    table = next((gb for limit, gb in DOCS_TABLE_GB if images_at_once <= limit), None)
    if table is None:
        top, top_gb = DOCS_TABLE_GB[-1]
        table = top_gb + (images_at_once - top) * GB_PER_IMAGE_ABOVE
    return max(float(table), float(GB_PER_PROCESS * (processes or 0)))


def needed_mib(images_at_once: int, processes: int | None) -> int:
    return -(-int(needed_gb(images_at_once, processes) * _GB) // _MIB)


def out_of_memory(memory_mib: int | None, images_at_once: int, processes: int | None) -> bool:
    """True when the container's memory is below the need (None: unlimited, never)."""
    return memory_mib is not None and memory_mib < needed_mib(images_at_once, processes)
