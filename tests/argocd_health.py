"""Run the Argo CD health check (integrations/argocd/.../health.lua) the way Argo CD does, in a real Lua runtime.

Argo CD runs health scripts in gopher-lua, a Lua 5.1 (argo-cd util/lua/lua.go): the object, decoded from JSON,
is the global ``obj`` (maps and arrays become tables, numbers Lua numbers, null nil); the script's returned table
is encoded back to JSON as ``{status, message}``, and a status outside Argo CD's set becomes Unknown. Scripts from
argocd-cm run without the "open libraries": only the base, package and table libraries and a safe subset of os
(``resource.customizations.useOpenLibs.<group>_<kind>`` turns them on); scripts bundled upstream and argo-cd's own
``TestLuaHealthScript`` run with them. lupa's Lua 5.1 is the runtime here; ``open_libs=False`` takes away what
Argo CD leaves out, so a script that calls ``string.format`` or ``s:find`` fails here as it would there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from lupa import lua51

REPO = Path(__file__).resolve().parents[1]
CHECK_DIR = REPO / "integrations" / "argocd" / "odm-operator.io" / "ODMJob"
HEALTH_LUA = CHECK_DIR / "health.lua"
# gitops-engine pkg/health: the statuses Argo CD accepts from a script.
ARGO_STATUSES = frozenset({"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"})
# What Argo CD answers for a status outside that set (util/lua/lua.go invalidHealthStatus).
INVALID_STATUS = {"status": "Unknown", "message": "Lua returned an invalid health status"}
# gopher-lua's libraries that Argo CD does not open for argocd-cm scripts (it opens base, package, table, os).
CLOSED_LIBRARIES = ("string", "math", "io", "debug", "coroutine")
# util/lua/oslib_safe.go: the os functions Argo CD keeps.
SAFE_OS = ("clock", "date", "difftime", "time")


def health(obj: dict[str, Any], script: str | None = None, open_libs: bool = False) -> dict[str, str]:
    """Argo CD's health of ``obj`` by ``script`` (default: our health.lua): {"status", "message"}."""
    lua = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    if not open_libs:
        keep_os = ", ".join(f"{name} = os.{name}" for name in SAFE_OS)
        lua.execute(
            # Without the string library strings have no methods either: drop their metatable first.
            "debug.setmetatable('', nil)\n"
            f"os = {{{keep_os}}}\n" + "\n".join(f"{name} = nil" for name in CLOSED_LIBRARIES)
        )
    lua.globals().obj = _to_lua(lua, obj)
    result = lua.execute(script if script is not None else HEALTH_LUA.read_text())
    if lua.eval("type")(result) != "table":
        raise TypeError(f"expect table output from Lua script, not {lua.eval('type')(result)}")
    answer = {"status": result["status"] or "", "message": result["message"] or ""}
    if answer["status"] not in ARGO_STATUSES:
        return dict(INVALID_STATUS)
    return {key: str(value) for key, value in answer.items()}


def _to_lua(lua: Any, value: Any) -> Any:
    """JSON-like Python value -> Lua value, as argo-cd's decodeValue does (arrays 1-indexed, null -> nil)."""
    if isinstance(value, dict):
        table = lua.table()
        for key, item in value.items():
            if item is not None:
                table[key] = _to_lua(lua, item)
        return table
    if isinstance(value, list):
        table = lua.table()
        for index, item in enumerate(value, start=1):
            table[index] = _to_lua(lua, item)
        return table
    return value


def upstream_tests() -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """(inputPath, expected healthStatus, object) of every test in health_test.yaml."""
    spec = yaml.safe_load((CHECK_DIR / "health_test.yaml").read_text())
    out = []
    for test in spec["tests"]:
        expected = {
            "status": test["healthStatus"]["status"],
            "message": test["healthStatus"].get("message", ""),
        }
        obj = yaml.safe_load((CHECK_DIR / test["inputPath"]).read_text())
        out.append((test["inputPath"], expected, obj))
    return out


# ----- the argocd-cm patch (integrations/argocd/argocd-cm-patch.yaml) -------------------------------------------

CM_PATCH = REPO / "integrations" / "argocd" / "argocd-cm-patch.yaml"
CM_KEY = "resource.customizations.health.odm-operator.io_ODMJob"
CM_PATCH_HEADER = """\
# The ODMJob health check for Argo CD's argocd-cm ConfigMap (a merge patch). Apply it with
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file integrations/argocd/argocd-cm-patch.yaml
# The script is odm-operator.io/ODMJob/health.lua, copied verbatim (tests/unit/test_argocd_health.py keeps the two
# equal; `python -m tests.argocd_health` rewrites this file from it).
"""


def cm_patch_text() -> str:
    """The patch, with the script as a literal block so that it reads as the script."""
    lines = [f"    {line}" if line else "" for line in HEALTH_LUA.read_text().splitlines()]
    return CM_PATCH_HEADER + f"data:\n  {CM_KEY}: |\n" + "\n".join(lines) + "\n"


if __name__ == "__main__":
    CM_PATCH.write_text(cm_patch_text())
