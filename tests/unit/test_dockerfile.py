"""The operator image's Dockerfile (no Docker engine here to build it): multi-stage, slim Python, non-root, runtime
dependencies only, and an entrypoint that exists and accepts the arguments the image and the chart pass."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from odm_operator import cli

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
PACKAGE = REPO / "operator" / "odm_operator"
CHART_VALUES = yaml.safe_load((REPO / "helm" / "odm-operator" / "values.yaml").read_text())
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with line continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        current += raw.rstrip().removesuffix("\\") + " " if raw.rstrip().endswith("\\") else raw.strip()
        if not raw.rstrip().endswith("\\"):
            if current.strip():
                lines.append(current.strip())
            current = ""
    out = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, args))
    return out


def _exec_form(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    args = [a for k, a in stage if k == keyword][-1]
    assert args.startswith("["), f"{keyword} in exec form (a JSON array), so signals reach the operator"
    return yaml.safe_load(args)


def test_the_image_is_built_in_stages_from_a_slim_python_3_11():
    build_args = dict(a.split("=", 1) for k, a in instructions() if k == "ARG" and "=" in a)
    bases = [a.split()[0] for k, a in instructions() if k == "FROM"]
    assert len(bases) >= 2, "multi-stage: build tools stay out of the runtime image"
    for base in bases:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: build_args[m.group(1)], base)
        # A patch release (not the moving 3.11 tag), optionally pinned by digest.
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", resolved), resolved


def test_the_runtime_stage_runs_as_the_non_root_user_the_chart_expects():
    final = stages()[-1]
    user = [a for k, a in final if k == "USER"][-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "a numeric non-root USER, so runAsNonRoot can verify it"
    assert int(uid) == CHART_VALUES["podSecurityContext"]["runAsUser"]
    assert int(gid) == CHART_VALUES["podSecurityContext"]["runAsGroup"]


def test_the_runtime_stage_only_copies_the_built_environment():
    final = stages()[-1]
    assert not any(k == "RUN" and "pip" in a for k, a in final), "nothing is installed in the runtime stage"
    copies = [a for k, a in final if k == "COPY"]
    assert copies and all(a.startswith("--from=") for a in copies)


def test_only_the_runtime_dependencies_are_installed():
    installs = [a for stage in stages() for k, a in stage if k == "RUN" and "pip install" in a]
    assert len(installs) == 2
    locked = shlex.split(installs[0].split("pip install", 1)[1].split("&&", 1)[0])
    assert locked == ["--require-hashes", "--no-deps", "-r", "requirements.lock"], "the lock, hashes checked"
    targets = shlex.split(installs[1].split("pip install", 1)[1].split("&&", 1)[0])
    assert targets == ["--no-deps", "--no-build-isolation", "."], (
        "the package without extras, nothing resolved"
    )
    assert "sandbox" not in installs[1], "the local stack is another distribution: nothing to remove"


LOCK = REPO / "requirements.lock"


def _locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from requirements.lock (pip-compile's format)."""
    out: dict[str, tuple[str, list[str]]] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text())
    for entry in entries:
        head = entry.split()[0] if entry.strip() and not entry.startswith("#") else ""
        if "==" in head:
            name, version = head.split("==")
            out[name.lower().replace("_", "-")] = (
                version,
                re.findall(r"--hash=sha256:([0-9a-f]{64})", entry),
            )
    return out


def test_the_lock_pins_every_runtime_dependency_and_the_build_backend_with_hashes():
    locked = _locked()
    assert locked and all(hashes for _, hashes in locked.values()), "every pin has at least one sha256"
    needed = [*PYPROJECT["project"]["dependencies"], *PYPROJECT["build-system"]["requires"]]
    stale = []
    for raw in needed:
        req = Requirement(raw)
        name = req.name.lower().replace("_", "-")
        if name not in locked or not req.specifier.contains(locked[name][0], prereleases=True):
            stale.append(raw)
    assert stale == [], f"requirements.lock does not satisfy {stale}: run `make lock`"
    text = LOCK.read_text()
    assert "--index-url" not in text and "--find-links" not in text, "no machine's index in the lock"
    for extra in ("moto", "kmock", "pytest"):
        assert extra not in locked, f"{extra} is a sandbox/test dependency, not the image's"


def test_the_entrypoint_is_odm_operator_run_and_the_module_behind_it_exists():
    final = stages()[-1]
    assert _exec_form(final, "ENTRYPOINT") == ["odm-operator", "run"]
    assert PYPROJECT["project"]["scripts"]["odm-operator"] == "odm_operator.cli:main"
    assert callable(cli.main)
    args = cli._parser().parse_args(["run", *_exec_form(final, "CMD")])
    assert args.func.__name__ == "cmd_run" and args.all_namespaces and args.standalone


def test_the_exposed_ports_are_the_health_and_metrics_ports_of_the_chart():
    exposed = {int(p) for k, a in stages()[-1] if k == "EXPOSE" for p in a.split()}
    assert exposed == {CHART_VALUES["health"]["port"], CHART_VALUES["config"]["metricsPort"]}
    cmd = _exec_form(stages()[-1], "CMD")
    assert f"--liveness=http://0.0.0.0:{CHART_VALUES['health']['port']}/healthz" in cmd


def test_the_build_context_is_only_what_the_build_copies():
    lines = (REPO / ".dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", "ignore everything by default (no .venv, .git, .tools, tests)"
    allowed = {line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")}
    copied = {p for k, a in stages()[0] if k == "COPY" for p in a.split()[:-1]}
    assert copied <= allowed


def _third_party_imports() -> set[str]:
    stdlib = set(sys.stdlib_module_names)
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in stdlib and n not in ("odm_operator", "__future__")}


def _closure(requirements: list[str]) -> set[str]:
    """Distributions installed for ``requirements`` and, recursively, their own (non-extra) requirements."""
    seen: set[str] = set()
    todo = [Requirement(r).name for r in requirements]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for raw in importlib.metadata.requires(name) or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_every_module_the_operator_imports_comes_with_the_runtime_dependencies():
    provided = importlib.metadata.packages_distributions()
    runtime = _closure(PYPROJECT["project"]["dependencies"])
    missing = {}
    for module in sorted(_third_party_imports()):
        dists = {d.lower().replace("_", "-") for d in provided.get(module, [])}
        if not dists & runtime:
            missing[module] = sorted(dists) or "not installed"
    assert not missing, f"the image would lack these (add them to [project] dependencies): {missing}"


def test_installing_the_operator_installs_no_emulator():
    runtime = _closure(PYPROJECT["project"]["dependencies"])
    assert runtime & {"moto", "kmock", "rich", "odm-sandbox"} == set()
    assert "sandbox" not in PYPROJECT["project"].get("optional-dependencies", {})


@pytest.mark.parametrize("extra", ["test"])
def test_no_extra_is_needed_at_runtime(extra):
    extras = {Requirement(r).name for r in PYPROJECT["project"]["optional-dependencies"][extra]}
    runtime = _closure(PYPROJECT["project"]["dependencies"])
    needed = {m for m in _third_party_imports() if m.replace("_", "-") in extras - runtime}
    assert needed == set()
