"""What the web console shows of ODMJobs, as pure functions: list rows, filtering, paging, the ETag of a page,
a job's timeline and its products.

Kept apart from the HTTP routes (web_api.py) so the rules are table-tested without a server. Times stay RFC 3339
strings: the browser computes age and duration from them, so a page's body (and its ETag) changes only when a
job does, not every second.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, get_args

from ..api.types import FINISHED_PHASES, Phase
from . import nodeodm as n

PHASES: tuple[str, ...] = get_args(Phase)
# A page of the list: enough rows to fill a 1280x800 screen twice; the browser never holds more than one page,
# so 1000 (or 10,000) jobs cost it the same as 50.
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200

# status.outputs keys -> what a person calls the product (the order the job page lists them in).
PRODUCTS: tuple[tuple[str, str], ...] = (
    ("allZip", "All products (all.zip)"),
    ("orthophoto", "Orthophoto (GeoTIFF)"),
    ("dsm", "Surface model, DSM (GeoTIFF)"),
    ("dtm", "Terrain model, DTM (GeoTIFF)"),
    ("pointCloud", "Point cloud"),
    ("texturedModel", "Textured model"),
    ("report", "Report (PDF)"),
    ("entwinePointCloud", "Entwine point cloud (ept.json)"),
    ("log", "ODM log (log.json)"),
)


class BadQuery(ValueError):
    """A query parameter the console's API refuses; the message names the parameter and the allowed values."""


def summary(job: dict[str, Any]) -> dict[str, Any]:
    """One row of the jobs list."""
    meta, spec, status = job.get("metadata", {}), job.get("spec") or {}, job.get("status") or {}
    ann = meta.get("annotations") or {}
    progress = status.get("progress") or {}
    capacity = spec.get("capacity") or {}
    aws = status.get("aws") or {}
    sizing = status.get("sizing") or {}
    images = ann.get(n.ANN_IMAGES)
    return {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "uuid": (meta.get("labels") or {}).get(n.LABEL_TASK),
        "title": ann.get(n.ANN_NAME) or meta.get("name", ""),
        "phase": status.get("phase") or "Pending",
        "reason": status.get("reason") or "",
        "message": status.get("message") or "",
        "percent": int(progress.get("percent") or (100 if status.get("phase") == "Succeeded" else 0)),
        "stage": progress.get("stage") or "",
        "capacity": capacity_label(capacity, aws.get("capacityProvider")),
        "images": int(images) if images and images.isdigit() else sizing.get("images"),
        "created": meta.get("creationTimestamp"),
        "started": status.get("startTime"),
        "finished": status.get("completionTime"),
        "deleting": bool(meta.get("deletionTimestamp")),
    }


def capacity_label(capacity: dict[str, Any], provider: str | None = None) -> str:
    """'fargate spot', 'ec2 on-demand (odm-1a2b3c)': what the job runs on, in a few words."""
    kind = capacity.get("type") or "ec2"
    label = f"{kind} {'spot' if capacity.get('spot') else 'on-demand'}"
    where = capacity.get("provider") or provider
    return f"{label} ({where})" if where else label


def _newest_first(job: dict[str, Any]) -> tuple[str, str]:
    meta = job.get("metadata", {})
    return (meta.get("creationTimestamp") or "", meta.get("name") or "")


def page(jobs: list[dict[str, Any]], phase: str | None, number: int, per_page: int) -> dict[str, Any]:
    """The jobs list: counts per phase over all jobs, then the ``number``-th page (1-based) of those in
    ``phase`` (all when None), newest first. A page past the end is the last page (the list shrank)."""
    if phase is not None and phase not in PHASES:
        raise BadQuery(f"phase must be one of {', '.join(PHASES)} (or omitted for all), got {phase!r}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise BadQuery(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
    if number < 1:
        raise BadQuery(f"page must be 1 or more, got {number}")
    rows = [summary(job) for job in sorted(jobs, key=_newest_first, reverse=True)]
    counts = {name: 0 for name in PHASES}
    for row in rows:
        counts[row["phase"]] = counts.get(row["phase"], 0) + 1
    chosen = rows if phase is None else [row for row in rows if row["phase"] == phase]
    pages = max(1, -(-len(chosen) // per_page))
    number = min(number, pages)
    start = (number - 1) * per_page
    return {
        "total": len(rows),
        "matching": len(chosen),
        "counts": counts,
        "phase": phase,
        "page": number,
        "pages": pages,
        "perPage": per_page,
        "items": chosen[start : start + per_page],
    }


def etag(body: bytes) -> str:
    """A strong ETag of a JSON body: equal bodies, equal tags (so a poll of an unchanged page gets 304)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def timeline(job: dict[str, Any]) -> list[dict[str, Any]]:
    """What happened to the job, oldest first: created, each condition's last transition, each attempt's start
    and end (with why it ended), finished. Events without a time are left out rather than guessed."""
    meta, status = job.get("metadata", {}), job.get("status") or {}
    events: list[dict[str, Any]] = []

    def add(at: str | None, kind: str, title: str, detail: str = "") -> None:
        if at:
            events.append({"at": at, "kind": kind, "title": title, "detail": detail})

    add(meta.get("creationTimestamp"), "created", "Created")
    for cond in status.get("conditions") or []:
        word = {"True": "yes", "False": "no"}.get(cond.get("status", ""), "unknown")
        title = f"{cond.get('type', '?')}: {word} ({cond.get('reason', '')})"
        add(cond.get("lastTransitionTime"), "condition", title, cond.get("message") or "")
    for attempt in status.get("attempts") or []:
        number = attempt.get("number", "?")
        memory = f" with {attempt['memory']} memory" if attempt.get("memory") else ""
        add(
            attempt.get("startedAt"),
            "attempt",
            f"Attempt {number} started{memory}",
            attempt.get("taskArn") or "",
        )
        ended = [
            f"{k} {attempt[f]}"
            for k, f in (("exit code", "exitCode"), ("stop code", "stopCode"))
            if attempt.get(f) is not None
        ]
        why = attempt.get("reason") or ""
        add(
            attempt.get("finishedAt"),
            "attempt-end",
            f"Attempt {number} ended" + (f": {why}" if why else ""),
            "; ".join(ended + ([attempt["stoppedReason"]] if attempt.get("stoppedReason") else [])),
        )
    if status.get("phase") in FINISHED_PHASES:
        add(
            status.get("completionTime"),
            "finished",
            f"Finished: {status['phase']}",
            status.get("message") or "",
        )
    events.sort(key=lambda e: e["at"])  # RFC 3339 in UTC sorts as text
    return events


def products(outputs: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(key, label, s3 URI) of each product the job has, in PRODUCTS' order; folders (tiles) are left out: a
    presigned URL names one object."""
    outputs = outputs or {}
    return [(key, label, outputs[key]) for key, label in PRODUCTS if isinstance(outputs.get(key), str)]


def detail(job: dict[str, Any]) -> dict[str, Any]:
    """The job page: its row, what was asked (options, resources, capacity, input and output), the sizing
    decision, the AWS resources, the timeline."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    return {
        **summary(job),
        "options": (spec.get("odm") or {}).get("options") or {},
        "image": (spec.get("odm") or {}).get("image"),
        "resources": spec.get("resources"),
        "capacitySpec": spec.get("capacity") or {},
        "input": (spec.get("input") or {}).get("s3Uri"),
        "output": (spec.get("output") or {}).get("s3Uri"),
        "suspend": bool(spec.get("suspend")),
        "sizing": status.get("sizing"),
        "aws": status.get("aws") or {},
        "conditions": status.get("conditions") or [],
        "attempts": status.get("attempts") or [],
        "timeline": timeline(job),
        "finishedPhase": status.get("phase") in FINISHED_PHASES,
    }
