"""The kustomize base in manifests/ is the chart rendered with its defaults, and the real kubectl builds it."""

from __future__ import annotations

import importlib.util
import subprocess

import yaml

from ..tools import tool_binary
from .conftest import REPO, render

GENERATOR = REPO / "scripts" / "generate-manifests.py"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_manifests", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _key(doc: dict) -> tuple[str, str, str]:
    return doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace", "")


def test_the_generated_files_are_what_the_chart_renders_now():
    generated = _generator().render(tool_binary("helm"))
    for name, content in generated.items():
        assert (REPO / "manifests" / name).read_text() == content, (
            f"manifests/{name} is stale: run `make manifests`"
        )


def test_kubectl_kustomize_builds_the_chart_defaults_plus_the_namespace():
    out = subprocess.run(
        [tool_binary("kubectl"), "kustomize", str(REPO / "manifests")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    built = {_key(d): d for d in yaml.safe_load_all(out.stdout) if d}
    chart = {_key(d): d for d in render("defaults")}
    assert set(built) == set(chart) | {("Namespace", "odm-operator", "")}
    helm_only = ("helm.sh/chart", "app.kubernetes.io/managed-by")
    for key, doc in chart.items():
        labels = doc["metadata"].get("labels") or {}
        for label in helm_only:
            labels.pop(label, None)
        assert built[key] == doc, f"{key} differs between the chart and the kustomize base"


def test_the_namespace_enforces_the_restricted_pod_security_standard():
    namespace = yaml.safe_load((REPO / "manifests" / "namespace.yaml").read_text())
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
