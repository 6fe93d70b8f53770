"""What the simulated ODM writes about itself: opendm/log.py's line format and log.json, stages/odm_app.py's
failure messages (the wording of ODM v3.6.0)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# opendm/log.py colours: INFO is DEFAULT, WARNING yellow, ERROR red; ENDC resets.
ANSI = {"INFO": "\033[39m", "WARNING": "\033[93m", "ERROR": "\033[91m"}
ANSI_END = "\033[0m"

# stages/odm_app.py: how the message ODM logs for a child's exit code begins (its first sentence, v3.6.0; the
# rest is advice and links, which nobody should match on).
FAILURE_MESSAGES = {
    137: "Whoops! You ran out of memory!",
    139: "Uh oh! Processing stopped because of strange values in the reconstruction.",
    132: "Oh no! It looks like your CPU is not supported (is it fairly old?).",
    3: "ODM can't find a program that is required for processing to run!",
}
FAILURE_MESSAGES[134] = FAILURE_MESSAGES[1] = FAILURE_MESSAGES[139]
STRANGE_CODE_MESSAGE = "The program exited with a strange error code."


def odm_line(message: str, level: str = "INFO", ansi: bool = False) -> str:
    """opendm/log.py: ``("[" + level + "]").ljust(9) + " " + msg``, coloured unless no_ansiesc is set."""
    text = f"{f'[{level}]'.ljust(9)} {message}"
    return f"{ANSI.get(level, '')}{text}{ANSI_END}" if ansi else text


def log_json(run: Any, iso_at: Callable[[float], str]) -> bytes:
    """ODM's log.json (opendm/log.py layout); None-valued options as ODM's args_to_dict keeps them."""
    memory = run.memory_mib or 0
    doc: dict[str, Any] = {
        "odmVersion": run.version,
        "memory": {"total": memory, "available": memory},
        "cpus": run.cpus,
        "images": run.images,
        "options": {k: v for k, v in (run.args.values if run.args else {}).items() if k != "name"},
        "startTime": iso_at(0.0),
        "stages": [{"name": s.name, "startTime": iso_at(s.start), "messages": []} for s in run.stages],
        "processes": [],
        "success": run.succeeded,
    }
    if doc["stages"]:
        doc["stages"][-1]["endTime"] = iso_at(run.duration_s)
        doc["stages"][-1]["totalTime"] = round(run.duration_s - run.stages[-1].start, 2)
    if not run.succeeded:
        doc["error"] = {"code": run.exit_code, "message": run.error or ""}
        doc["stackTrace"] = ["Traceback (most recent call last):"]
    doc["endTime"] = iso_at(run.duration_s)
    doc["totalTime"] = round(run.duration_s, 2)
    return json.dumps(doc, indent=4, default=str).encode()
