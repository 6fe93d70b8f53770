"""The pure layers stay pure: api/ and plan/ import none of boto3, kopf or kubernetes, and nothing in the operator
imports the sandbox or its emulators (the operator reaches the local stack only through a kubeconfig and
AWS_ENDPOINT_URL; `odm-operator sandbox` is registered by the odm-sandbox distribution's entry point)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "odm_operator"
FORBIDDEN_IN_PURE = ("boto3", "botocore", "kopf", "kubernetes", "aiohttp")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package path
                parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[: -node.level]
                names.add(".".join((*parts, node.module or "")).rstrip("."))
            else:
                names.add(node.module or "")
    return names


def _modules(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((PACKAGE / folder).rglob("*.py"))]


@pytest.mark.parametrize("path", _modules("api", "plan"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_pure_modules_import_no_io_library(path):
    bad = {name for name in _imports(path) if name.split(".")[0] in FORBIDDEN_IN_PURE}
    assert bad == set()


def test_the_operator_never_imports_the_sandbox():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if any(name.split(".")[0] in ("odm_sandbox", "moto", "kmock", "rich") for name in _imports(path)):
            offenders.append(str(rel))
    assert offenders == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _cycles(folders: tuple[str, ...]) -> list[list[str]]:
    """Import cycles among the modules of ``folders``, counting imports inside functions too (a deferred import
    hides a cycle, it does not remove it)."""
    modules = {_module_name(p): p for p in _modules(*folders)}
    graph = {
        name: {n for n in _imports(path) if n in modules and n != name} for name, path in modules.items()
    }
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(graph[name]):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return found


def test_the_pure_layers_have_no_import_cycle():
    assert _cycles(("api", "plan")) == []


def test_the_runtime_has_no_import_cycle():
    assert _cycles(("runtime",)) == []
