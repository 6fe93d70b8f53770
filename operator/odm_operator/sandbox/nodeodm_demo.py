"""The demo's NodeODM part: the sandbox's small dataset (30 images and a gcp_list.txt) sent through the gateway
with the real pyodm client, as a WebODM user's processing node would receive it, then its all.zip downloaded."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from .aws.datasets import INPUT_BUCKET

if TYPE_CHECKING:
    from .stack import Stack

DATASET = "small"


def run(stack: Stack, console: Console, timeout_s: float = 120.0) -> int:
    from pyodm import Node
    from pyodm.exceptions import OdmError

    s3 = stack.client("s3")
    node = Node.from_url(f"{stack.gateway_url}?token={stack.gateway_token}")
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for item in s3.list_objects_v2(Bucket=INPUT_BUCKET, Prefix=f"{DATASET}/")["Contents"]:
            path = Path(tmp) / item["Key"].rsplit("/", 1)[-1]
            s3.download_file(INPUT_BUCKET, item["Key"], str(path))
            files.append(str(path))
        console.print(
            f"pyodm: sending {len(files)} files of s3://{INPUT_BUCKET}/{DATASET}/ to the NodeODM gateway at "
            f"{stack.gateway_url} (see {stack.state_dir}/gateway.env)"
        )
        try:
            task = node.create_task(files, {"dsm": True}, name="demo through pyodm")
            task.wait_for_completion(interval=0.5, max_retries=int(timeout_s / 0.5))
            info = task.info()
            local = Path(task.download_zip(str(stack.state_dir / "pyodm")))
        except OdmError as exc:
            console.print(f"[red]pyodm task failed[/]: {exc}")
            return 1
    output = f"s3://{stack.gateway_output_bucket}/tasks/{task.uuid}/1/all.zip"
    names = zipfile.ZipFile(local).namelist()
    console.print(
        f"pyodm task {task.uuid}: {info.status.name}, {info.images_count} images, "
        f"{info.processing_time / 1000:.1f}s; all.zip is at {output} "
        f"(downloaded to {local}: {len(names)} files, e.g. {', '.join(sorted(names)[:3])})"
    )
    return 0
