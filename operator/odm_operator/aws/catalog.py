"""AWS enums the operator validates against, read from botocore's service models (maintained upstream).

The EC2 ``InstanceType`` enum lists every instance type name EC2 accepts (1437 in botocore 1.44.8). The full EC2
model is ~16 MB once parsed and leaves the process's memory fragmented (aws/models.py), so only the enum's own
slice of the file is decoded; if botocore's formatting ever changes, the whole model is loaded instead.
"""

from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path

from botocore.loaders import Loader

_ENUM_START = re.compile(rb'"InstanceType"\s*:\s*\{\s*"type"\s*:\s*"string"\s*,\s*"enum"')


@lru_cache(maxsize=1)
def ec2_instance_types() -> frozenset[str]:
    """Every EC2 instance type name in botocore's EC2 model."""
    loader = Loader()
    version = loader.determine_latest_version("ec2", "service-2")
    for base in loader.search_paths:
        folder = Path(base) / "ec2" / version
        for name in ("service-2.json.gz", "service-2.json"):
            path = folder / name
            if path.is_file():
                names = _enum_slice(path)
                if names:
                    return names
    model = loader.load_service_model("ec2", "service-2", version)
    return frozenset(model["shapes"]["InstanceType"]["enum"])


def _enum_slice(path: Path) -> frozenset[str]:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    match = _ENUM_START.search(raw)
    if match is None:
        return frozenset()
    text = raw[match.start() + len(b'"InstanceType"') :].decode()
    shape, _ = json.JSONDecoder().raw_decode(text.lstrip(" \n\t:"))
    return frozenset(shape.get("enum", ()))
