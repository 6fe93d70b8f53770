"""Sizing from the dataset follows ODM's memory table; instance types are the smallest that fit."""

import pytest

from odm_operator.api.quantity import to_cpu_units, to_mib
from odm_operator.plan import instances
from odm_operator.plan.sizing import SizingError, size_for


@pytest.mark.parametrize(
    ("images", "memory", "cpu", "rule"),
    [
        (1, "4G", "2", "<=40 images -> 4 GB"),
        (40, "4G", "2", "<=40 images -> 4 GB"),
        (41, "16G", "2", "<=250 images -> 16 GB"),
        (600, "64G", "8", "<=1500 images -> 64 GB"),
        (2500, "128G", "16", "<=2500 images -> 128 GB"),
        (5000, "256G", "32", "<=5000 images -> 256 GB"),
    ],
)
def test_ec2_sizing_follows_odms_table(images, memory, cpu, rule):
    sizing = size_for(images)
    assert (sizing.memory, sizing.cpu, sizing.rule) == (memory, cpu, rule)


@pytest.mark.parametrize(
    ("images", "cpu_units", "memory_mib"),
    [(30, 2048, 4096), (200, 2048, 15360), (400, 4096, 30720), (1000, 8192, 61440), (2000, 16384, 122880)],
)
def test_fargate_sizing_lands_on_a_valid_fargate_pair(images, cpu_units, memory_mib):
    sizing = size_for(images, fargate=True)
    assert (to_cpu_units(sizing.cpu), to_mib(sizing.memory)) == (cpu_units, memory_mib)


def test_more_than_5000_images_is_refused_with_a_split_hint():
    with pytest.raises(SizingError, match="split"):
        size_for(5001)


def test_too_many_images_for_fargate_says_to_use_ec2():
    with pytest.raises(SizingError, match="capacity.type: ec2"):
        size_for(2600, fargate=True)


@pytest.mark.parametrize(
    ("cpu", "memory_mib", "gpus", "arch", "first", "reason"),
    [
        (2 * 1024, 4000, 0, "x86_64", "m6i.large", "small job: general purpose"),
        (8 * 1024, 61035, 0, "x86_64", "r6i.2xlarge", "64 GB fits a 64 GiB instance after the ECS reserve"),
        (8 * 1024, 65536, 0, "x86_64", "r6i.4xlarge", "64 GiB exactly does not fit a 64 GiB instance"),
        (16 * 1024, 61440, 1, "x86_64", "g4dn.4xlarge", "GPU job gets a GPU family"),
        (2 * 1024, 4000, 0, "arm64", "m7g.large", "arm64 gets Graviton"),
    ],
)
def test_derived_instance_types_are_the_smallest_that_fit(cpu, memory_mib, gpus, arch, first, reason):
    chosen = instances.derive(cpu, memory_mib, gpus, arch)
    assert chosen[0] == first, reason
    assert len(chosen) == instances.DERIVED_TYPES
    assert all(instances.BY_NAME[n].fits(cpu, memory_mib, gpus) for n in chosen)


def test_nothing_fits_an_impossible_task():
    assert instances.derive(1024, 10**9, 0) == []


@pytest.mark.parametrize(
    ("memory", "cpu", "fargate", "expected", "reason"),
    [
        (16384, 4096, False, (30518, 4096), "16 GiB -> the 32 GB row, CPU kept"),
        (30518, 2048, False, (61036, 8192), "32 GB -> 64 GB and 8 vCPU"),
        (244141, 32768, False, None, "nothing above 256 GB"),
        (16384, 4096, True, (30720, 4096), "Fargate rounds up to a valid pair"),
        (61440, 8192, True, (122880, 16384), "64 GB -> 128 GB fits Fargate's largest size"),
        (122880, 16384, True, None, "nothing above Fargate's largest size"),
    ],
)
def test_out_of_memory_escalates_one_row_up(memory, cpu, fargate, expected, reason):
    from odm_operator.plan.sizing import escalate_memory

    assert escalate_memory(memory, cpu, fargate) == expected, reason


@pytest.mark.parametrize(
    ("images", "split", "memory", "disk", "reason"),
    [
        (12000, 400, "32G", "6000G", "memory of a 400-image submodel, disk of the whole dataset"),
        (3000, 1000, "64G", "2000G", "a 1000-image submodel needs the 1500 row"),
        (300, 400, "32G", "320G", "split above the image count does not split"),
        (5001, 5000, "256G", "2501G", "the advice of the 5000+ error works"),
    ],
)
def test_a_split_job_is_sized_by_its_submodels_for_memory_and_its_dataset_for_disk(
    images, split, memory, disk, reason
):
    sizing = size_for(images, split=split)
    assert (sizing.memory, sizing.disk) == (memory, disk), reason
    assert sizing.images == images


def test_submodels_above_the_table_say_to_lower_split():
    with pytest.raises(SizingError, match="smaller split"):
        size_for(20000, split=6000)
