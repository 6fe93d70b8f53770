"""What the concurrency quotas need from the job store: a namespace's peers, the operator-wide ceilings, and
waking the jobs that wait for a slot when one frees. The rules themselves are pure (plan/policy.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..plan.policy import Peer, needs_peers, operator_wait
from ..plan.status import FINISHED
from ..settings import Settings, policy_for
from .store import JobStore

# Waiting jobs of other namespaces woken when a job finishes (the operator-wide ceilings free a slot at a time).
WAKE_OLDEST = 8


class Quota:
    def __init__(self, settings: Settings, store: JobStore, submit: Callable[[str], None]):
        self.settings = settings
        self.store = store
        self.submit = submit

    def needs_peers(self, namespace: str) -> bool:
        """Whether passes in ``namespace`` need its other jobs (only a concurrency quota looks at them)."""
        policy = policy_for(self.settings, namespace)
        return policy is not None and policy.max_concurrent_jobs is not None

    def peers_of(self, namespace: str) -> list[Peer]:
        """The namespace's jobs as the concurrency quota sees them (only computed where a quota is set)."""
        if not self.needs_peers(namespace):
            return []
        return [self.peer(body) for body in self.store.bodies() if body["metadata"]["namespace"] == namespace]

    def peer(self, body: dict[str, Any]) -> Peer:
        meta, spec = body["metadata"], body.get("spec") or {}
        status = body.get("status") or {}
        phase = status.get("phase")
        capacity = spec.get("capacity") or {}
        managed = capacity.get("type", "ec2") == "ec2" and not (
            capacity.get("provider") or self.settings.capacity_provider
        )
        return Peer(
            name=meta["name"],
            created=str(meta.get("creationTimestamp") or ""),
            active=phase not in FINISHED and not spec.get("suspend"),
            started=phase in ("Starting", "Running"),
            namespace=meta["namespace"],
            instances=int(capacity.get("maxInstances", 10)) if managed else 0,
            provider=str((status.get("aws") or {}).get("capacityProvider") or "") if managed else "",
        )

    def operator_wait(self, body: dict[str, Any]) -> str | None:
        """Why the operator-wide ceilings (maxActiveJobs, maxManagedInstances) hold this job back, if they do.
        Every job is looked at only when a ceiling can bind (plan/policy.py needs_peers)."""
        me = self.peer(body)
        if not needs_peers(self.settings, me, len(self.store)):
            return None
        return operator_wait(self.settings, me, [self.peer(b) for b in self.store.bodies()])

    def wake_waiting(self, namespace: str) -> None:
        """A slot of the namespace's concurrency quota (or of an operator-wide ceiling) may have freed: the jobs
        waiting for one get a pass now rather than at their next resync. Of the other namespaces' waiting jobs
        only the oldest few: a finished job frees one slot, and waking every waiting job would cost a pass each."""
        local = self.needs_peers(namespace)
        others: list[tuple[str, str]] = []
        for uid, body in self.store.items():
            if (body.get("status") or {}).get("reason") != "QuotaExceeded":
                continue
            if local and body["metadata"]["namespace"] == namespace:
                self.submit(uid)
            else:
                others.append((str(body["metadata"].get("creationTimestamp") or ""), uid))
        for _, uid in sorted(others)[:WAKE_OLDEST]:
            self.submit(uid)
