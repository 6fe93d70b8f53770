"""Kubernetes resource quantities (``64Gi``, ``500G``, ``16``, ``"500m"``) parsed into exact numbers.

The grammar is the API server's (k8s.io/apimachinery resource.Quantity): a signed decimal, then a binary suffix
(Ki..Ei), a decimal suffix (n, u, m, "", k, M, G, T, P, E) or a decimal exponent (e3). Values stay as the user wrote
them in ``spec`` (no normalising echo, so GitOps tools see no drift); only the planner reads the numbers.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

# Same pattern the API server uses for quantity strings; reused in the CRD so kubectl refuses bad values early.
QUANTITY_PATTERN = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
_QUANTITY_RE = re.compile(QUANTITY_PATTERN)
_NUMBER_RE = re.compile(r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))")

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}

MIB = 2**20
# Bounds that keep absurd quantities from crashing the arithmetic: "1e999999999" overflows Decimal's default context,
# and a 5000-digit number becomes an integer too long to print in a message. Real CPU, memory and disk quantities
# stay far below 1e30 (24Ti is 2.6e13 bytes).
MAX_EXPONENT_DIGITS = 4
MAX_MAGNITUDE = 30  # decimal digits before the point, less one (Decimal.adjusted())
GIB = 2**30


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity, with a message that says what would be."""


def parse_quantity(value: object) -> Decimal:
    """The exact numeric value of a quantity given as an int or a string."""
    amount = _parse(value)
    if amount.adjusted() > MAX_MAGNITUDE:
        raise QuantityError(f"{_short(value)} is out of range: no CPU, memory or disk quantity is that large")
    return amount


def _parse(value: object) -> Decimal:
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity; use a number like 16 or a string like '64Gi'")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        raise QuantityError(f"{value!r} is not a quantity; write fractions as a string, e.g. '500m' or '1.5'")
    if not isinstance(value, str) or not _QUANTITY_RE.match(value.strip() or "x"):
        raise QuantityError(
            f"{value!r} is not a quantity; use a number with an optional suffix: "
            "Ki, Mi, Gi, Ti (binary), k, M, G, T (decimal) or m (milli), e.g. '64Gi', '500G', '500m'"
        )
    text = value.strip()
    number = _NUMBER_RE.match(text)
    assert number is not None  # guaranteed by the full pattern above
    suffix = text[number.end() :]
    try:
        base = Decimal(number.group(0))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise QuantityError(f"{value!r} is not a quantity") from exc
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    if len(suffix[1:].lstrip("+-").lstrip("0")) > MAX_EXPONENT_DIGITS:
        raise QuantityError(f"{_short(value)} is out of range: no CPU, memory or disk quantity is that large")
    return base * (Decimal(10) ** int(suffix[1:]))


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def to_bytes(value: object) -> int:
    """Bytes in a memory or disk quantity, rounded up to a whole byte as the API server does."""
    amount = parse_quantity(value)
    if amount <= 0:
        raise QuantityError(f"{value!r} must be greater than zero")
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def to_mib(value: object) -> int:
    """Whole MiB (rounded up) in a memory quantity: the unit ECS task definitions use."""
    return -(-to_bytes(value) // MIB)


def to_gib(value: object) -> int:
    """Whole GiB (rounded up) in a disk quantity: the unit of EBS volumes and Fargate ephemeral storage."""
    return -(-to_bytes(value) // GIB)


def to_cpu_units(value: object) -> int:
    """ECS CPU units (1024 per vCPU) in a CPU quantity such as 16, '4' or '500m', rounded up."""
    amount = parse_quantity(value)
    if amount <= 0:
        raise QuantityError(f"{value!r} must be greater than zero")
    return int((amount * 1024).to_integral_value(rounding=ROUND_CEILING))


def format_mib(mib: int) -> str:
    """A human-readable size for messages: 65536 -> '64 GiB', 1536 -> '1.5 GiB', 512 -> '512 MiB'."""
    if mib >= 1024:
        gib = Decimal(mib) / 1024
        text = f"{gib:.1f}".rstrip("0").rstrip(".")
        return f"{text} GiB"
    return f"{mib} MiB"
