"""Submodel tasks of ODM's distributed split-merge: who may see them, and how they are tied to their parent.

A job with ``spec.odm.splitMerge.distributed`` gets ``--sm-cluster <gateway>/?token=sm1...`` from the operator
(plan/split_merge.py): a token made for that job alone. Presented here it admits the NodeODM routes, and only
for the tasks created with it: ODM's remote executor (opendm/remote.py) creates, polls, downloads and removes
its own submodel tasks and needs nothing else; ``/task/list`` shows it only those. The web console (/api/)
takes the gateway's own token only.

Each submodel task's ODMJob is labelled with its parent (namespace label; name label, or a hash of it when the
name is longer than a label value may be; the full name in an annotation), so ``kubectl get odmjobs -l
odm-operator.io/split-merge-parent=<job>`` lists them. A parent in the gateway's own namespace also becomes the
ODMJobs' owner (Kubernetes' garbage collector deletes them with it); Kubernetes has no cross-namespace owners.
ODM itself removes each submodel task once it has its assets (``remove()`` after ``download_assets``, and every
remaining one when it exits, opendm/remote.py), as it does on NodeODM and ClusterODM.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from .. import API_GROUP, API_VERSION, KIND
from ..plan.split_merge import token_parent
from .nodeodm import BadRequest

LABEL_PARENT = "odm-operator.io/split-merge-parent"
LABEL_PARENT_NAMESPACE = "odm-operator.io/split-merge-parent-namespace"
ANN_PARENT = "odm-operator.io/split-merge-parent"
MAX_LABEL_VALUE = 63


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the gateway's own token (parent None), or one parent job's split-merge token."""

    parent: tuple[str, str] | None = None

    @property
    def parent_ref(self) -> str | None:
        return f"{self.parent[0]}/{self.parent[1]}" if self.parent else None


def caller_of(given: str, token: str) -> Caller | None:
    """The caller a presented token stands for, or None (refused). Both comparisons are constant-time."""
    if hmac.compare_digest(given.encode(), token.encode()):
        return Caller()
    parent = token_parent(token, given)
    return Caller(parent) if parent else None


def label_value(name: str) -> str:
    """A job name as a label value (at most 63 characters): itself, or a prefix and a hash of it."""
    if len(name) <= MAX_LABEL_VALUE:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[: MAX_LABEL_VALUE - 13].rstrip('.-_')}-{digest}"


async def parent_uid(store: Any, caller: Caller) -> str | None:
    """The UID of a split-merge parent in the gateway's namespace (it becomes the owner), else None."""
    if caller.parent is None or caller.parent[0] != store.namespace:
        return None
    parent = await store.get(caller.parent[1])
    if parent is None:
        raise BadRequest(f"The split-merge parent {caller.parent_ref} does not exist")
    return str(parent["metadata"]["uid"])


def mark(body: dict[str, Any], caller: Caller, parent_uid: str | None) -> None:
    """Label a submodel task's ODMJob with its parent; ``parent_uid`` (a parent in the same namespace) makes
    the parent its owner."""
    if caller.parent is None:
        return
    namespace, name = caller.parent
    meta = body["metadata"]
    meta["labels"].update({LABEL_PARENT: label_value(name), LABEL_PARENT_NAMESPACE: namespace})
    meta["annotations"][ANN_PARENT] = caller.parent_ref
    if parent_uid:
        meta["ownerReferences"] = [
            {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND, "name": name, "uid": parent_uid}
        ]


def parent_of(job: dict[str, Any]) -> Caller | None:
    """The split-merge parent an ODMJob was created for (its annotation), as a caller; None for other tasks."""
    ref = (job["metadata"].get("annotations") or {}).get(ANN_PARENT)
    if not ref or "/" not in ref:
        return None
    namespace, name = ref.split("/", 1)
    return Caller((namespace, name))


def visible(job_or_session: dict[str, Any] | None, caller: Caller) -> bool:
    """Whether the caller may see this task (an ODMJob, or an upload session's dict)."""
    if caller.parent is None or job_or_session is None:
        return True
    if "metadata" in job_or_session:
        owner = (job_or_session["metadata"].get("annotations") or {}).get(ANN_PARENT)
    else:
        owner = job_or_session.get("parent")
    return owner == caller.parent_ref


def check_visible(job_or_session: dict[str, Any] | None, caller: Caller, uuid: str) -> None:
    """NodeODM's "not found" for a task the caller may not see: a token learns nothing of other tasks."""
    if not visible(job_or_session, caller):
        raise BadRequest(f"{uuid} not found", no_retry=False)
