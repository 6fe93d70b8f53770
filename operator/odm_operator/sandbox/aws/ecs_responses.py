"""Corrections to moto's ECS answers that can only be made on the wire.

DescribeTasks on ECS lists every unknown ARN under ``failures`` with reason MISSING (the operator relies on that
to learn a task is gone); moto always answers ``failures: []``. ListTasks on ECS pages at ``maxResults`` (default
100) with a ``nextToken``; moto returns everything at once. Both are fixed by rewriting moto's JSON response.
"""

from __future__ import annotations

import base64
import json
from typing import Any

# ListTasks' default and maximum page size.
LIST_TASKS_PAGE = 100


def rewrite(action: str, request_body: bytes, response_body: bytes) -> bytes:
    if action == "DescribeTasks":
        return _describe_tasks(request_body, response_body)
    if action == "ListTasks":
        return _list_tasks(request_body, response_body)
    return response_body


def _load(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _describe_tasks(request_body: bytes, response_body: bytes) -> bytes:
    request = _load(request_body)
    response = _load(response_body)
    found = set()
    for task in response.get("tasks", []):
        arn = task.get("taskArn", "")
        found.add(arn)
        found.add(arn.rsplit("/", 1)[-1])
    failures = [{"arn": ref, "reason": "MISSING"} for ref in request.get("tasks", []) if ref not in found]
    failures = [f for f in failures if f["arn"].rsplit("/", 1)[-1] not in found]
    if not failures:
        return response_body
    response["failures"] = response.get("failures", []) + failures
    return json.dumps(response).encode()


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
