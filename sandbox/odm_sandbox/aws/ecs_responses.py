"""ECS answers that the sandbox writes itself rather than take from moto.

DescribeTasks is the operator's hot path (one call per 100 active tasks per poll), so the sandbox answers it
from the backend with its own serializer (shape_json.py) instead of moto's slow one, and it lists every
unknown ARN under ``failures`` with reason MISSING, as ECS does (moto always answers ``failures: []``).
ListTasks on ECS pages at ``maxResults`` (default 100) with a ``nextToken``; moto returns everything at once,
so its answer is paged here.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from .shape_json import service_model, to_json

# ListTasks' default and maximum page size.
LIST_TASKS_PAGE = 100

JSON_HEADERS = [("Content-Type", "application/x-amz-json-1.1")]


def describe_tasks(backend: Any, request_body: bytes) -> tuple[list[tuple[str, str]], bytes] | None:
    """The DescribeTasks answer (headers, body), or None to let moto answer (and word the error)."""
    request = _load(request_body)
    refs = request.get("tasks") or []
    try:
        tasks = backend.describe_tasks(request.get("cluster") or "default", refs)
    except Exception:
        return None
    shape = service_model("ecs").shape_for("Task")
    with_tags = "TAGS" in (request.get("include") or [])
    found = set()
    serialized = []
    for task in tasks:
        item = to_json(task, shape)
        if not with_tags:
            item.pop("tags", None)
        serialized.append(item)
        found.update((task.task_arn, task.id))
    failures = [{"arn": ref, "reason": "MISSING"} for ref in refs if ref.rsplit("/", 1)[-1] not in found]
    body = json.dumps({"tasks": serialized, "failures": failures}).encode()
    return [*JSON_HEADERS, ("x-amzn-RequestId", str(uuid.uuid4()))], body


def page_list_tasks(request_body: bytes, response_body: bytes) -> bytes:
    """moto's complete ListTasks answer cut to the requested page."""
    return _list_tasks(request_body, response_body)


def _load(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _list_tasks(request_body: bytes, response_body: bytes) -> bytes:
    request = _load(request_body)
    response = _load(response_body)
    arns = response.get("taskArns", [])
    page = max(1, min(int(request.get("maxResults") or LIST_TASKS_PAGE), LIST_TASKS_PAGE))
    start = _start_from(request.get("nextToken"), arns)
    chunk = arns[start : start + page]
    result: dict[str, Any] = {"taskArns": chunk}
    if start + page < len(arns):
        result["nextToken"] = _token(chunk[-1], start + page)
    return json.dumps(result).encode()


def _token(last_arn: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_arn, "offset": offset}).encode()).decode()


def _start_from(token: str | None, arns: list[str]) -> int:
    """Resume after the last ARN of the previous page; if it vanished meanwhile, at the old offset."""
    if not token:
        return 0
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        return 0
    after = state.get("after")
    if after in arns:
        return arns.index(after) + 1
    return int(state.get("offset", 0))
