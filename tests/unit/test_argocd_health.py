"""The Argo CD health check, integrations/argocd/odm-operator.io/ODMJob/health.lua, run in a real Lua 5.1 (lupa)
against every test of its health_test.yaml, as argo-cd's TestLuaHealthScript does upstream, and in the reduced
library set Argo CD gives argocd-cm scripts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from odm_operator.api.crd import build_crd

from ..argocd_health import (
    CHECK_DIR,
    CM_KEY,
    CM_PATCH,
    HEALTH_LUA,
    cm_patch_text,
    health,
    upstream_tests,
)
from ..tools import tool_binary

TESTS = upstream_tests()


@pytest.mark.parametrize(("path", "expected", "obj"), TESTS, ids=[t[0] for t in TESTS])
@pytest.mark.parametrize("open_libs", [True, False], ids=["open-libs-as-upstream", "argocd-cm-libs"])
def test_every_upstream_test_case_gives_its_health(path, expected, obj, open_libs):
    assert health(obj, open_libs=open_libs) == expected


# What each phase must map to, stated apart from the script (the contract), for every testdata object.
PHASE_HEALTH = {
    None: "Progressing",
    "Pending": "Progressing",
    "Starting": "Progressing",
    "Running": "Progressing",
    "Succeeded": "Healthy",
    "Failed": "Degraded",
    "Cancelled": "Degraded",
    "Suspended": "Suspended",
}


@pytest.mark.parametrize(("path", "expected", "obj"), TESTS, ids=[t[0] for t in TESTS])
def test_the_expected_health_follows_the_phase_and_carries_the_operators_message(path, expected, obj):
    status = obj.get("status") or {}
    lagging = status.get("observedGeneration", obj["metadata"]["generation"]) < obj["metadata"]["generation"]
    if lagging:
        refused = [c for c in status["conditions"] if c["type"] == "SpecChangeIgnored"]
        assert expected["status"] == ("Degraded" if refused else "Progressing")
        if refused:
            assert refused[0]["message"] in expected["message"]
        return
    assert expected["status"] == PHASE_HEALTH[status.get("phase")]
    if status.get("message"):
        assert status["message"] in expected["message"]
    if status.get("phase") in ("Failed", "Cancelled"):
        assert expected["message"].startswith(status["reason"] + ": ")


def test_the_testdata_covers_every_phase_and_the_generation_cases():
    phases = {(obj.get("status") or {}).get("phase") for _, _, obj in TESTS}
    assert phases == set(PHASE_HEALTH)
    files = {p.name for p in (CHECK_DIR / "testdata").glob("*.yaml")}
    assert files == {Path(path).name for path, _, _ in TESTS}, "every testdata file is used by a test"


@pytest.mark.parametrize(("path", "expected", "obj"), TESTS, ids=[t[0] for t in TESTS])
def test_every_testdata_object_is_a_valid_odmjob_with_a_status_of_our_schema(path, expected, obj):
    import jsonschema

    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for name in ("spec", "status"):
        if name in obj:
            jsonschema.validate(obj[name], _plain(schema["properties"][name]))
    assert obj["apiVersion"] == "odm-operator.io/v1alpha1" and obj["kind"] == "ODMJob"


def _plain(schema):
    """The CRD's schema without its Kubernetes extensions (jsonschema does not know them)."""
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
    if isinstance(schema, list):
        return [_plain(v) for v in schema]
    return schema


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param(
            'return {status = "Fine", message = "x"}',
            {"status": "Unknown", "message": "Lua returned an invalid health status"},
            id="a-status-outside-argo-cds-set-becomes-unknown",
        ),
        pytest.param(
            'hs = {}; hs.status = "Healthy"; return hs', {"status": "Healthy", "message": ""}, id="no-message"
        ),
    ],
)
def test_the_runner_answers_as_argo_cd_does(script, expected):
    assert health({"metadata": {}}, script=script) == expected


def test_the_runner_takes_away_the_string_library_as_argocd_cm_does():
    with pytest.raises(Exception, match="string"):
        health({"metadata": {}}, script='return {status = string.format("%s", "Healthy")}')
    with pytest.raises(Exception, match="attempt to index"):
        health({"metadata": {}}, script='local s = "Healthy"; return {status = s:lower()}')
    assert health({"metadata": {}}, script='return {status = string.lower("Healthy")}', open_libs=True) == {
        "status": "Unknown",
        "message": "Lua returned an invalid health status",
    }


def test_the_argocd_cm_patch_holds_the_script_verbatim_and_applies_with_kubectl(tmp_path):
    assert CM_PATCH.read_text() == cm_patch_text(), "run `python -m tests.argocd_health` to rewrite it"
    assert yaml.safe_load(CM_PATCH.read_text())["data"][CM_KEY] == HEALTH_LUA.read_text()
    existing = tmp_path / "argocd-cm.yaml"
    existing.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "argocd-cm", "namespace": "argocd"},
                "data": {"url": "https://argocd.example.com"},
            }
        )
    )
    patched = subprocess.run(
        [
            tool_binary("kubectl"),
            "patch",
            "--local",
            "-f",
            str(existing),
            "--type",
            "merge",
            "--patch-file",
            str(CM_PATCH),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    data = json.loads(patched.stdout)["data"]
    assert data == {"url": "https://argocd.example.com", CM_KEY: HEALTH_LUA.read_text()}
