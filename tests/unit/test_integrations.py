"""The Argo Workflows and Flux examples under integrations/: their shape, the ODMJobs inside them (rendered as Argo
or kustomize would, then checked by the real `odm-operator validate`), and that every condition and output path
they read is a real field of the ODMJob status schema, with values the operator writes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from odm_operator.api.crd import build_crd
from odm_operator.api.types import Phase

from ..tools import tool_binary

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / "integrations" / "argo-workflows").glob("*.yaml"))
WORKFLOW_FILES = [p for p in WORKFLOWS if p.name != "rbac.yaml"]
FLUX = REPO / "integrations" / "flux" / "kustomizations.yaml"
PHASES = set(get_args(Phase))
SCHEMA = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def schema_at(path: str) -> dict[str, Any] | None:
    """The CRD schema of a dotted path (status.outputs.orthophoto), or None when the CRD has no such field."""
    node = SCHEMA
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return None
    return node


# ----- Argo Workflows' condition language ------------------------------------------------------------------------
# A resource template's successCondition / failureCondition is a Kubernetes label selector whose keys are gjson
# paths into the object (argo-workflows workflow/executor/resource.go: labels.ParseToRequirements, then
# gjson.Get for each key). Requirements are joined by commas outside parentheses.

REQUIREMENT = re.compile(r"^\s*([\w.\-/]+)\s*(==|=|!=|\bnotin\b|\bin\b)\s*(.+?)\s*$")


def parse_selector(text: str) -> list[tuple[str, str, set[str]]]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    out = []
    for part in parts:
        match = REQUIREMENT.match(part)
        assert match, f"not a label-selector requirement Argo can parse: {part!r}"
        key, op, value = match.groups()
        if op in ("in", "notin"):
            assert value.startswith("(") and value.endswith(")"), f"{op} needs (a, b): {part!r}"
            values = {v.strip() for v in value[1:-1].split(",")}
        else:
            values = {value}
        out.append((key, {"=": "==", "==": "=="}.get(op, op), values))
    return out


def selector_matches(requirements: list[tuple[str, str, set[str]]], obj: dict[str, Any]) -> bool:
    for key, op, values in requirements:
        node: Any = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        value = "" if node is None else str(node)
        if (op in ("==", "in")) != (value in values):
            return False
    return True


# ----- reading the workflows -------------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def templates(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in wf["spec"]["templates"]}


def invocations(wf: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step and DAG task of the workflow."""
    out = []
    for template in wf["spec"]["templates"]:
        for group in template.get("steps") or []:
            out.extend(group)
        out.extend((template.get("dag") or {}).get("tasks") or [])
    return out


def substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*([\w.\-]+)\s*\}\}", lambda m: values.get(m.group(1), m.group(0)), text)


def rendered_odmjobs(wf: dict[str, Any]) -> list[dict[str, Any]]:
    """The ODMJob each resource step would create, with Argo's parameters filled in from the workflow's
    arguments, as Argo substitutes them."""
    workflow = {f"workflow.parameters.{p['name']}": p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    workflow["workflow.name"] = "wf-abc12"
    jobs = []
    for call in invocations(wf):
        template = templates(wf)[call["template"]]
        if "resource" not in template:
            continue
        args = {
            f"inputs.parameters.{p['name']}": substitute(p["value"], workflow)
            for p in call.get("arguments", {}).get("parameters", [])
        }
        manifest = substitute(template["resource"]["manifest"], {**workflow, **args})
        assert "{{" not in manifest, f"{call['name']}: unresolved parameter in {manifest}"
        jobs.append(yaml.safe_load(manifest))
    return jobs


def validate(docs: list[dict[str, Any]], tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return subprocess.run(
        [sys.executable, "-m", "odm_operator.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


# ----- Argo Workflows --------------------------------------------------------------------------------------------


def test_there_are_the_chained_and_the_dag_workflow_and_the_rbac_they_run_with():
    names = {p.name for p in WORKFLOW_FILES}
    assert names == {"orthophoto-then-cog.yaml", "two-flights-merged.yaml"}
    rbac = list(yaml.safe_load_all((REPO / "integrations" / "argo-workflows" / "rbac.yaml").read_text()))
    [role] = [d for d in rbac if d["kind"] == "Role"]
    [odm] = [r for r in role["rules"] if r["apiGroups"] == ["odm-operator.io"]]
    assert odm["resources"] == ["odmjobs"] and {"create", "get", "watch"} <= set(odm["verbs"])
    accounts = {load(p)["spec"]["serviceAccountName"] for p in WORKFLOW_FILES}
    assert accounts == {d["metadata"]["name"] for d in rbac if d["kind"] == "ServiceAccount"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_a_workflow_is_well_formed_and_every_reference_resolves(path):
    wf = load(path)
    assert (wf["apiVersion"], wf["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    by_name = templates(wf)
    assert wf["spec"]["entrypoint"] in by_name
    calls = {call["name"]: call for call in invocations(wf)}
    declared = {p["name"] for p in wf["spec"]["arguments"]["parameters"]}
    for call in calls.values():
        assert call["template"] in by_name, call
        inputs = {p["name"] for p in by_name[call["template"]].get("inputs", {}).get("parameters", [])}
        given = {p["name"] for p in call.get("arguments", {}).get("parameters", [])}
        assert given == inputs, f"{call['name']} passes {given}, its template takes {inputs}"
    text = path.read_text()
    for scope, name, output in re.findall(
        r"\{\{(steps|tasks)\.([\w-]+)\.outputs\.parameters\.([\w-]+)\}\}", text
    ):
        assert name in calls, f"{{{{{scope}.{name}...}}}} names no step or task"
        outputs = by_name[calls[name]["template"]].get("outputs", {}).get("parameters", [])
        assert output in {p["name"] for p in outputs}, f"{name} has no output parameter {output}"
    for name in re.findall(r"\{\{workflow\.parameters\.([\w-]+)\}\}", text):
        assert name in declared
    for template in by_name.values():
        inputs = {p["name"] for p in template.get("inputs", {}).get("parameters", [])}
        used = set(re.findall(r"\{\{inputs\.parameters\.([\w-]+)\}\}", yaml.safe_dump(template)))
        assert used <= inputs, f"template {template['name']} uses undeclared inputs {used - inputs}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_each_resource_step_waits_on_the_phase_and_reads_real_status_fields(path):
    resources = [t for t in templates(load(path)).values() if "resource" in t]
    assert resources
    for template in resources:
        resource = template["resource"]
        assert resource["action"] == "create" and resource["setOwnerReference"] is True
        success = parse_selector(resource["successCondition"])
        failure = parse_selector(resource["failureCondition"])
        for key, _, values in success + failure:
            assert schema_at(key) is not None, f"{key} is not a field of the ODMJob schema"
            assert key == "status.phase" and values <= PHASES, (key, values)
        # Over every phase the operator writes: success exactly at Succeeded, failure at every other end,
        # neither while the job is on its way (or suspended), so the step neither hangs nor ends early.
        for phase in PHASES | {""}:
            obj = {"status": {"phase": phase}} if phase else {}
            done, failed = selector_matches(success, obj), selector_matches(failure, obj)
            assert done == (phase == "Succeeded"), phase
            assert failed == (phase in ("Failed", "Cancelled")), phase
        for parameter in template["outputs"]["parameters"]:
            json_path = parameter["valueFrom"]["jsonPath"]
            assert json_path.startswith("{.") and json_path.endswith("}")
            if json_path == "{.metadata.name}":  # every object has one (the CRD schema leaves metadata open)
                continue
            field = schema_at(json_path[2:-1])
            assert field is not None and field["type"] == "string", json_path


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_the_odmjobs_the_workflow_creates_pass_odm_operator_validate(path, tmp_path):
    jobs = rendered_odmjobs(load(path))
    assert jobs and all(j["kind"] == "ODMJob" for j in jobs)
    result = validate(jobs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(not j["spec"].get("ttlSecondsAfterFinished") for j in jobs)


def test_the_dag_merges_both_flights_after_they_succeeded():
    wf = load(REPO / "integrations" / "argo-workflows" / "two-flights-merged.yaml")
    tasks = {t["name"]: t for t in templates(wf)["main"]["dag"]["tasks"]}
    assert tasks["merge"]["depends"] == "north.Succeeded && south.Succeeded"
    values = {p["value"] for p in tasks["merge"]["arguments"]["parameters"]}
    assert {
        "{{tasks.north.outputs.parameters.orthophoto}}",
        "{{tasks.south.outputs.parameters.orthophoto}}",
    } <= values
    outputs = {j["spec"]["output"]["s3Uri"] for j in rendered_odmjobs(wf)}
    assert len(outputs) == 2, "the two flights write to different prefixes"


@pytest.mark.parametrize(
    ("selector", "obj", "expected"),
    [
        pytest.param("status.phase == Succeeded", {"status": {"phase": "Succeeded"}}, True, id="equal"),
        pytest.param("status.phase == Succeeded", {}, False, id="a-missing-field-is-empty"),
        pytest.param(
            "status.phase in (Failed, Cancelled)", {"status": {"phase": "Cancelled"}}, True, id="in"
        ),
        pytest.param("status.phase notin (Failed)", {"status": {"phase": "Running"}}, True, id="notin"),
        pytest.param(
            "status.phase == Succeeded,status.reason != X", {"status": {"phase": "Succeeded"}}, True, id="and"
        ),
    ],
)
def test_the_selector_reading_follows_argos_label_selector_semantics(selector, obj, expected):
    assert selector_matches(parse_selector(selector), obj) is expected


# ----- Flux ------------------------------------------------------------------------------------------------------


def flux_docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(FLUX.read_text()) if d]


def kustomize(path: Path) -> list[dict[str, Any]]:
    built = subprocess.run(
        [tool_binary("kubectl"), "kustomize", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [d for d in yaml.safe_load_all(built.stdout) if d]


def test_the_flux_kustomizations_wait_on_the_odmjobs_they_apply(tmp_path):
    kustomizations = {d["metadata"]["name"]: d for d in flux_docs() if d["kind"] == "Kustomization"}
    sources = {d["metadata"]["name"] for d in flux_docs() if d["kind"] == "GitRepository"}
    assert set(kustomizations) == {"odm-jobs", "publish-maps"}
    for name, k in kustomizations.items():
        spec = k["spec"]
        assert k["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1", name
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": spec["sourceRef"]["name"]}
        assert spec["sourceRef"]["name"] in sources
        assert spec.get("wait") or spec.get("healthChecks"), f"{name} does not wait for health"
        assert re.fullmatch(r"\d+[smh]", spec["timeout"]), f"{name}: a timeout Flux parses"
        for dependency in spec.get("dependsOn", []):
            assert dependency["name"] in kustomizations
        built = kustomize(REPO / spec["path"])
        applied = {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in built}
        for check in spec.get("healthChecks", []):
            key = (check["kind"], check["name"], check["namespace"])
            assert key in applied, f"{name} health-checks {key}, which it does not apply"
            assert check["apiVersion"] == "odm-operator.io/v1alpha1"
        jobs = [d for d in built if d["kind"] == "ODMJob"]
        if name == "odm-jobs":
            assert jobs and {j["metadata"]["name"] for j in jobs} == {c["name"] for c in spec["healthChecks"]}
            result = validate(jobs, tmp_path)
            assert result.returncode == 0, result.stdout + result.stderr
            # Flux re-applies what TTL deleted, and the job would run again.
            assert all(not j["spec"].get("ttlSecondsAfterFinished") for j in jobs)
    assert kustomizations["publish-maps"]["spec"]["dependsOn"] == [{"name": "odm-jobs"}]


def test_the_published_file_is_where_the_operator_reports_the_orthophoto():
    jobs = kustomize(REPO / "integrations" / "flux" / "jobs")
    [publish] = kustomize(REPO / "integrations" / "flux" / "publish")
    source = publish["spec"]["template"]["spec"]["containers"][0]["args"][2]
    from odm_operator.plan.outputs import PRODUCTS

    prefix = jobs[0]["spec"]["output"]["s3Uri"]
    assert source in {prefix + key for key in PRODUCTS["orthophoto"]}
