"""Helpers for the chart tests: the real helm binary, renders cached per set of values, Kubernetes schemas."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ..tools import tool_binary

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "odm-operator"
ALL_OPTIONS = Path(__file__).resolve().parent / "values-all-options.yaml"
RELEASE, NAMESPACE = "odm-operator", "odm-operator"
# The Kubernetes version whose schemas the rendered objects must satisfy (the kubectl we test with is 1.35).
KUBERNETES_VERSION = "1.35.0"
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"})

# Named sets of values the tests render the chart with.
VALUES: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "all-options": ("-f", str(ALL_OPTIONS)),
    "namespaced": ("--set", "watchNamespaces={mapping,survey}"),
    "peering": ("--set", "replicaCount=3"),
    "namespaced-without-cluster-access": (
        "--set",
        "watchNamespaces={mapping}",
        "--set",
        "rbac.clusterObservation=false",
    ),
    "metrics-off": ("--set", "config.metricsPort=0"),
}


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([tool_binary("helm"), *args], capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@cache
def render_text(*args: str) -> str:
    return helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds", *args).stdout


def render(name_or_args: str | tuple[str, ...]) -> list[dict[str, Any]]:
    args = VALUES[name_or_args] if isinstance(name_or_args, str) else name_or_args
    return [d for d in yaml.safe_load_all(render_text(*args)) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def the(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The operator's one object of ``kind`` (the NodeODM gateway's, component gateway, are tested on their own)."""
    found = [d for d in of_kind(docs, kind) if _component(d) != "gateway"]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _component(doc: dict[str, Any]) -> str | None:
    return ((doc.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component")


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return the(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(docs).get("env", [])}


def values_file(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())
