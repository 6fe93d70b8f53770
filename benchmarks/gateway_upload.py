"""Gateway memory benchmark: the NodeODM gateway's peak RSS while it receives 1 GB of images from pyodm.

    python benchmarks/gateway_upload.py [--gigabytes 1] [--file-mib 10] [--out FILE]

One Stack in this process (Kubernetes API emulator, AWS emulator; the operator is not needed) runs the gateway as
a child process exactly as `make demo` does; the real pyodm client uploads ``--gigabytes`` of images of
``--file-mib`` MiB each through the chunked flow (10 uploads in parallel, pyodm's default), commits, and the
gateway's peak RSS (VmHWM in /proc/<pid>/status, read by the kernel, not by the gateway) is printed next to its
RSS before the upload. Memory should stay flat however big the upload: each file in flight holds one 8 MiB part.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def vm(pid: int, field: str) -> int:
    """A /proc/<pid>/status field in MiB (VmRSS: now, VmHWM: peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise KeyError(field)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--file-mib", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from pyodm import Node

    from odm_operator.sandbox.stack import Stack

    count = max(1, int(args.gigabytes * 1024 / args.file_mib))
    with tempfile.TemporaryDirectory() as tmp, Stack(Path(tmp) / "state", operator=False) as stack:
        files = []
        block = bytes(range(256)) * (4096 * args.file_mib)  # 1 MiB * file_mib
        for i in range(count):
            path = Path(tmp) / f"IMG_{i:05d}.JPG"
            path.write_bytes(block[: args.file_mib * 1024 * 1024 - 1] + bytes([i % 256]))
            files.append(str(path))
        pid = stack.gateway.pid
        node = Node.from_url(f"{stack.gateway_url}?token={stack.gateway_token}")
        node.info()
        before = vm(pid, "VmRSS")
        started = time.monotonic()
        task = node.create_task(files, {}, name="1 GB")
        seconds = time.monotonic() - started
        listed = stack.client("s3").get_paginator("list_objects_v2")
        stored = sum(
            item["Size"]
            for page in listed.paginate(Bucket="odm-gateway-staging", Prefix=f"uploads/{task.uuid}/images/")
            for item in page.get("Contents", [])
        )
        result = {
            "files": count,
            "file_mib": args.file_mib,
            "uploaded_mib": round(stored / 2**20),
            "seconds": round(seconds, 1),
            "mib_per_second": round(stored / 2**20 / seconds, 1),
            "gateway_rss_before_mib": before,
            "gateway_peak_rss_mib": vm(pid, "VmHWM"),
            "gateway_rss_after_mib": vm(pid, "VmRSS"),
            "images_count": task.info().images_count,
        }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["uploaded_mib"] >= count * args.file_mib * 0.99 else 1


if __name__ == "__main__":
    sys.exit(main())
