"""The runtime's Kubernetes writes: status merge patches, its finalizer, Events, and TTL deletion.

The operator writes status itself (not through kopf's end-of-handler patch) because an attempt must be recorded
*before* RunTask is called; kopf would only write it after the handler returned.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import kubernetes
from kubernetes.client.rest import ApiException

from .. import API_GROUP, API_VERSION, KIND, PLURAL

log = logging.getLogger(__name__)


class KubeWriter:
    def __init__(self, client: kubernetes.client.ApiClient):
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.core = kubernetes.client.CoreV1Api(client)

    def event(
        self, body: dict[str, Any], kind: str, reason: str, message: str, at: str | None = None
    ) -> None:
        """Post a core/v1 Event about the job (that happened ``at``, RFC 3339; default now). Events are best
        effort: a failure is logged, never raised (kopf's own event poster only works inside its handlers; the
        dispatcher runs outside them)."""
        meta = body["metadata"]
        now = at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": f"{API_GROUP}/{API_VERSION}",
                "kind": KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": kind,
            "reason": reason[:128] or "Unknown",
            "message": message[:1024],
            "source": {"component": "odm-operator"},
            "reportingComponent": "odm-operator.io/operator",
            "reportingInstance": "odm-operator",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            # The answer is read but not turned into a V1Event model (that costs more than the request).
            answer = self.core.create_namespaced_event(meta["namespace"], event, _preload_content=False)
            answer.read()
            answer.release_conn()
        except ApiException as exc:
            log.warning(
                "Posting an event failed job=%s/%s status=%s", meta["namespace"], meta["name"], exc.status
            )

    def patch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        """Merge-patch ``status``; returns the updated object, or None when the object is gone."""
        try:
            return self.custom.patch_namespaced_custom_object_status(
                API_GROUP, API_VERSION, namespace, PLURAL, name, {"status": patch}
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def add_finalizer(self, meta: dict[str, Any], finalizer: str, resource_version: str) -> dict[str, Any]:
        """Add ``finalizer`` to the object, unless it changed since ``resource_version`` (then its event brings the
        new version): a JSON patch that tests the resourceVersion. Returns the updated object; raises ApiException
        (404 gone, 409/422 changed or being deleted, 5xx)."""
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {
                "op": "add",
                "path": "/metadata/finalizers",
                "value": [*(meta.get("finalizers") or []), finalizer],
            },
        ]
        return self._patch(meta, patch)

    def remove_finalizer(self, meta: dict[str, Any], finalizer: str, index: int) -> None:
        """Remove ``finalizer`` from the object, found at ``index`` (the patch tests that it still is). An object
        already gone is fine; other failures raise."""
        path = f"/metadata/finalizers/{index}"
        try:
            self._patch(
                meta, [{"op": "test", "path": path, "value": finalizer}, {"op": "remove", "path": path}]
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _patch(self, meta: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(
            API_GROUP,
            API_VERSION,
            meta["namespace"],
            PLURAL,
            meta["name"],
            patch,
            _content_type="application/json-patch+json",
        )

    def delete(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
