"""What a NodeODM task becomes (pure): the upload session a client opens, and the ODMJob that runs it."""

from __future__ import annotations

import json
from typing import Any

from .. import API_GROUP, API_VERSION, KIND
from ..aws.nodeodm.staging import S3Prefix
from . import nodeodm as n
from .settings import GatewaySettings

JOB_PREFIX = "nodeodm-"


def session_fields(fields: dict[str, str], now_s: float, now_ms: int) -> dict[str, Any]:
    """The session of ``/task/new/init`` (or ``/task/new``) fields, checked: every refusal names the field."""
    skip = fields.get("skipPostProcessing", "").lower() == "true"
    options = n.parse_options(fields.get("options"), skip)
    outputs = n.parse_outputs(fields.get("outputs"))
    try:
        created = int(fields["dateCreated"]) if fields.get("dateCreated") else now_ms
    except ValueError as exc:
        raise n.BadRequest(f"Invalid dateCreated: {fields['dateCreated']!r} is not milliseconds") from exc
    if fields.get("zipurl"):
        raise n.BadRequest("zipurl is not supported: upload the images (chunked or /task/new)")
    if fields.get("webhook"):  # refused, not ignored: a client waiting for the call would wait forever
        raise n.BadRequest("webhook is not supported: poll /task/<uuid>/info (as WebODM and pyodm do)")
    return {
        "name": fields.get("name") or n.default_name(created),
        "options": options,
        "skipPostProcessing": skip,
        "outputs": outputs,
        "dateCreated": created,
        "startedAt": now_s,
    }


def job_name(uuid: str, run: int) -> str:
    return JOB_PREFIX + uuid + ("" if run == 1 else f"-{run}")


def job_manifest(
    settings: GatewaySettings,
    uuid: str,
    session: dict[str, Any],
    images: int,
    run: int,
    input_prefix: S3Prefix,
    output_prefix: S3Prefix,
) -> dict[str, Any]:
    """The ODMJob of run ``run`` of a task: the staged images in, a prefix of its own out, the gateway's
    defaults for image, resources and capacity; what NodeODM echoes back (name, date, image count, options)
    rides in annotations, the UUID in a label."""
    odm: dict[str, Any] = {"options": session["options"]}
    if settings.odm_image:
        odm["image"] = settings.odm_image
    output: dict[str, Any] = {"s3Uri": output_prefix.uri}
    if session.get("outputs"):
        output["archivePaths"] = list(session["outputs"])  # NodeODM's outputs: what all.zip holds
    spec: dict[str, Any] = {
        "input": {"s3Uri": input_prefix.uri},
        "output": output,
        "odm": odm,
        "capacity": dict(settings.default_capacity),
    }
    if settings.default_resources:
        spec["resources"] = dict(settings.default_resources)
    annotations = {
        n.ANN_NAME: session["name"],
        n.ANN_DATE: str(session["dateCreated"]),
        n.ANN_IMAGES: str(images),
        n.ANN_OPTIONS: json.dumps(n.echo_options(session["options"])),
        n.ANN_RUN: str(run),
        n.ANN_SKIP_POST: str(bool(session["skipPostProcessing"])).lower(),
    }
    if session.get("outputs"):
        annotations[n.ANN_OUTPUTS] = json.dumps(session["outputs"])
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {
            "name": job_name(uuid, run),
            "namespace": settings.namespace,
            "labels": {n.LABEL_TASK: uuid},
            "annotations": annotations,
        },
        "spec": spec,
    }
