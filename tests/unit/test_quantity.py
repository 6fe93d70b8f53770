"""Kubernetes quantities become exact ECS numbers, and bad ones are refused with a message saying what works."""

import pytest

from odm_operator.api.quantity import QuantityError, format_mib, to_bytes, to_cpu_units, to_gib, to_mib

GI = 2**30


@pytest.mark.parametrize(
    ("value", "expected", "reason"),
    [
        ("64Gi", 64 * GI, "binary suffix"),
        ("500G", 500 * 10**9, "decimal suffix"),
        ("1.5Gi", 3 * GI // 2, "fractional binary"),
        (1024, 1024, "plain integer of bytes"),
        ("1e3", 1000, "exponent form"),
        ("512Mi", 512 * 2**20, "mebibytes"),
        ("1k", 1000, "lowercase k is kilo"),
        ("0.5Ki", 512, "fraction that is a whole byte"),
        ("1.0001k", 1001, "rounded up to a whole byte like the API server"),
    ],
)
def test_memory_quantities_parse_to_bytes(value, expected, reason):
    assert to_bytes(value) == expected, reason


@pytest.mark.parametrize(
    ("value", "expected", "reason"),
    [
        (16, 16 * 1024, "whole vCPUs"),
        ("4", 4096, "string vCPUs"),
        ("500m", 512, "millicores"),
        ("250m", 256, "quarter vCPU"),
        ("0.125", 128, "smallest ECS task"),
        ("1001m", 1026, "rounded up to a whole CPU unit"),
    ],
)
def test_cpu_quantities_parse_to_ecs_units(value, expected, reason):
    assert to_cpu_units(value) == expected, reason


@pytest.mark.parametrize(
    ("value", "fragment", "reason"),
    [
        ("64GB", "not a quantity", "GB is not a Kubernetes suffix"),
        ("lots", "not a quantity", "words"),
        ("", "not a quantity", "empty"),
        (1.5, "write fractions as a string", "YAML float"),
        (True, "not a quantity", "boolean"),
        ("-1Gi", "greater than zero", "negative"),
        (0, "greater than zero", "zero"),
        (None, "not a quantity", "null"),
    ],
)
def test_bad_quantities_are_refused_with_a_hint(value, fragment, reason):
    with pytest.raises(QuantityError) as err:
        to_bytes(value)
    assert fragment in str(err.value), reason


@pytest.mark.parametrize(
    ("value", "mib", "gib"),
    [("64Gi", 65536, 64), ("1G", 954, 1), ("100Gi", 102400, 100), ("1Mi", 1, 1)],
)
def test_mib_and_gib_round_up(value, mib, gib):
    assert to_mib(value) == mib
    assert to_gib(value) == gib


@pytest.mark.parametrize(("mib", "text"), [(65536, "64 GiB"), (1536, "1.5 GiB"), (512, "512 MiB")])
def test_sizes_read_well_in_messages(mib, text):
    assert format_mib(mib) == text
