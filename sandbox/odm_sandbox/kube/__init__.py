"""A Kubernetes API server emulator, faithful enough for kopf, the kubernetes client and kubectl 1.35.

The sandbox and the end-to-end tests run the operator against it instead of a cluster. An aiohttp handler
(frontend.py; kmock was dropped, see there) in front of what a real apiserver does: resourceVersions, status
subresources, finalizers, CRD schemas (pruning, defaulting, validation, CEL rules), watches that resume,
tables, discovery and OpenAPI. Usage::

    with KubeEmulator(crd_paths=["crds/odmjobs.odm-operator.io.yaml"]) as k8s:
        k8s.write_kubeconfig(tmp / "kubeconfig")
        k8s.faults.reject(verb="patch", resource="odmjobs", subresource="status", status=409)
        ...
"""

from .emulator import DEFAULT_CRD, KubeEmulator
from .errors import ApiError
from .faults import Fault, Faults
from .schema import SchemaError

__all__ = ["DEFAULT_CRD", "ApiError", "Fault", "Faults", "KubeEmulator", "SchemaError"]
