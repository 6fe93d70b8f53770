"""Kubernetes writes kopf does not make for us: status merge patches mid-handler, and TTL deletion.

The operator writes status itself (not through kopf's end-of-handler patch) because an attempt must be recorded
*before* RunTask is called; kopf would only write it after the handler returned.
"""

from __future__ import annotations

from typing import Any

import kubernetes
from kubernetes.client.rest import ApiException

from . import API_GROUP, API_VERSION, PLURAL


def api_client() -> kubernetes.client.ApiClient:
    """In-cluster credentials when running in a pod, else the kubeconfig ($KUBECONFIG or ~/.kube/config)."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(client_configuration=configuration)
    return kubernetes.client.ApiClient(configuration)


class KubeWriter:
    def __init__(self, client: kubernetes.client.ApiClient):
        self.custom = kubernetes.client.CustomObjectsApi(client)
        self.writes = 0

    def patch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        """Merge-patch ``status``; returns the updated object, or None when the object is gone."""
        try:
            self.writes += 1
            return self.custom.patch_namespaced_custom_object_status(
                API_GROUP, API_VERSION, namespace, PLURAL, name, {"status": patch}
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def delete(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status != 404:
                raise
