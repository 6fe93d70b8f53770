"""NodeODM's API vocabulary, as pure functions: status codes, TaskInfo from an ODMJob, the /options table, the
options a client sends, and where an uploaded file goes.

Facts from NodeODM 2.2.4 (reference/nodeodm-api.md: ``libs/statusCodes.js``, ``libs/Task.js``, ``libs/odmInfo.js``,
``libs/taskNew.js``) and pyodm 1.5 (``pyodm/api.py``, ``types.py``); our own code, no AGPL text. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
import stat
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from ..api import odm_options
from ..api.types import ARCHIVE_PATH_PATTERN, FINISHED_PHASES
from ..plan.outcome import ODM_EXIT_CODES

# NodeODM's version we answer with: pyodm's compare_version needs strictly X.Y.Z, the chunked upload needs
# >= 1.4.0 and WebODM's with_output >= 1.5.1.
NODEODM_VERSION = "2.2.4"
ENGINE = "odm"

QUEUED, RUNNING, FAILED, COMPLETED, CANCELED = 10, 20, 30, 40, 50

# NodeODM's set-uuid check: a UUID of version 1 to 7 (index.js).
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-7][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)

# Labels and annotations on the ODMJob of a task.
LABEL_TASK = "odm-operator.io/nodeodm-task"
ANN_NAME = "odm-operator.io/nodeodm-name"
ANN_DATE = "odm-operator.io/nodeodm-date-created"
ANN_IMAGES = "odm-operator.io/nodeodm-images"
ANN_OPTIONS = "odm-operator.io/nodeodm-options"
ANN_RUN = "odm-operator.io/nodeodm-run"
ANN_CANCELED = "odm-operator.io/nodeodm-canceled"
ANN_SKIP_POST = "odm-operator.io/nodeodm-skip-post-processing"
ANN_OUTPUTS = "odm-operator.io/nodeodm-outputs"

# ODM exit codes NodeODM turns into errorMessage (libs/Task.js).
EXIT_MESSAGES = {
    1: "Cannot process dataset",
    134: "Cannot process dataset",
    139: "Cannot process dataset",
    137: "Not enough memory",
    132: "Unsupported CPU",
    3: "Installation issue",
}

# NodeODM switches these on unless skipPostProcessing (libs/Task.js); gltf is not in the operator's table.
POST_PROCESSING_OPTIONS = ("pc-ept", "cog")

# ODM 3.6.0 opendm/config.py defaults of the options in the operator's table, as /options shows them (strings).
# max-concurrency defaults to the CPU count (each task gets its own vCPUs), hence no fixed value.
ODM_DEFAULTS = {
    "orthophoto-resolution": "5", "dem-resolution": "5", "orthophoto-compression": "DEFLATE", "crop": "3",
    "feature-quality": "high", "feature-type": "dspsift", "min-num-features": "10000",
    "matcher-neighbors": "0", "matcher-type": "flann", "sfm-algorithm": "incremental", "camera-lens": "auto",
    "gps-accuracy": "3", "rolling-shutter-readout": "0", "radiometric-calibration": "none",
    "primary-band": "auto", "pc-quality": "medium", "pc-filter": "5", "pc-sample": "0", "mesh-size": "200000",
    "mesh-octree-depth": "11", "dem-gapfill-steps": "3", "dem-decimation": "1", "split": "999999",
    "split-overlap": "150", "merge": "all", "max-concurrency": "", "end-with": "odm_postprocess",
    "rerun-from": "", "rerun": "", "auto-boundary-distance": "0", "boundary": "", "cameras": "",
    "gps-z-offset": "0", "matcher-order": "0", "smrf-scalar": "1.25", "smrf-slope": "0.15",
    "smrf-threshold": "0.5", "smrf-window": "18.0", "video-limit": "500", "video-resolution": "4000",
}  # fmt: skip
# NodeODM's five types; ODM's path_or_json options (boundary, cameras) are strings holding JSON.
_TYPES = {
    "flag": "bool",
    "int": "int",
    "float": "float",
    "choice": "enum",
    "string": "string",
    "json": "string",
}

# Uploaded files: ODM's image and video extensions (opendm/context.py), and the extra files NodeODM routes.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".raw", ".dng", ".nef", ".jxl")
ALIGN_FILES = ("align.las", "align.laz", "align.tif")
SEED = "seed.zip"
# outputs: the ODMJob's spec.output.archivePaths takes at most 100 paths of this shape (api/types.py).
MAX_OUTPUTS = 100
_OUTPUT_PATH = re.compile(ARCHIVE_PATH_PATTERN)
MAX_NAME = 255
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]|^\.|^$")


class BadRequest(Exception):
    """Input the gateway refuses; the message is what the client sees as ``{"error": ...}``."""

    def __init__(self, message: str, no_retry: bool = True):
        super().__init__(message)
        self.no_retry = no_retry


# ----- /options and task options ---------------------------------------------------------------------------


def _domain(option: odm_options.OdmOption) -> Any:
    if option.kind == "choice":
        return list(option.choices)
    if option.kind == "flag":
        return "bool"
    if option.kind == "string":
        return "string"
    if option.kind == "json":
        return "json"
    word = "integer" if option.kind == "int" else "float"
    low, high = option.minimum, option.maximum
    if low is not None and high is not None:
        return f"{word}: {odm_options._num(low)} <= x <= {odm_options._num(high)}"
    if getattr(option, "above", None) is not None:
        return f"{word} > {odm_options._num(option.above)}"
    if low is not None:
        return f"{word} >= {odm_options._num(low)}"
    return word


def options_table() -> list[dict[str, Any]]:
    """The operator's ODM option table in NodeODM's five-key format (pyodm's NodeOption takes exactly these)."""
    out = []
    for name, option in sorted(odm_options.OPTIONS.items()):
        default = "false" if option.kind == "flag" else ODM_DEFAULTS.get(name, "")
        out.append(
            {
                "name": name,
                "type": _TYPES[option.kind],
                "value": default,
                "domain": _domain(option),
                "help": option.help,
            }
        )
    return out


def parse_options(raw: str | None, skip_post_processing: bool) -> dict[str, Any]:
    """The ODMJob options for NodeODM's ``options`` field (a JSON list of {name, value}, values as strings or
    JSON scalars). Unlike NodeODM, which drops unknown names silently, a name the operator does not know or
    does not allow is refused with the reason: a misspelt ``dsm`` would otherwise run for hours without the
    product asked for."""
    items: Any = []
    if raw not in (None, ""):
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise BadRequest(f"Invalid options: not JSON ({exc.msg})") from exc
    if isinstance(items, dict):
        items = [{"name": k, "value": v} for k, v in items.items()]
    if not isinstance(items, list) or not all(isinstance(i, dict) and "name" in i for i in items):
        raise BadRequest('Invalid options: expected a JSON list of {"name": ..., "value": ...}')
    options: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for item in items:
        name = str(item["name"])
        value, problem = _convert(name, item.get("value"))
        if problem:
            errors.append({"name": name, "error": problem})
        elif value is not False or odm_options.OPTIONS[name].kind != "flag":
            options[name] = value
    if not errors:
        errors = [{"name": e.name, "error": e.message} for e in odm_options.check_options(options)]
    if errors:
        raise BadRequest("Invalid options: " + json.dumps(errors))
    if not skip_post_processing:
        for name in POST_PROCESSING_OPTIONS:
            if name in odm_options.OPTIONS:
                options.setdefault(name, True)
    return options


def _convert(name: str, value: Any) -> tuple[Any, str | None]:
    """A NodeODM option value (often a string) as the type the operator's table gives the option."""
    option = odm_options.OPTIONS.get(name)
    if option is None:
        problems = odm_options.check_options({name: value})
        return None, problems[0].message if problems else f"unknown ODM option {name!r}"
    text = value.strip() if isinstance(value, str) else value
    try:
        if option.kind == "flag":
            if isinstance(text, bool):
                return text, None
            if str(text).lower() in ("true", "1", ""):
                return True, None
            if str(text).lower() in ("false", "0"):
                return False, None
            return None, f"{name!r} is a flag: use true or false, not {value!r}"
        if option.kind == "int":
            number = float(text)
            return (int(number) if number.is_integer() else number), None
        if option.kind == "float":
            return float(text), None
    except (TypeError, ValueError):
        word = "an integer" if option.kind == "int" else "a number"
        return None, f"{name!r} takes {word}, not {value!r}"
    return str(text), None


def echo_options(options: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in sorted(options.items())]


def parse_outputs(raw: str | None) -> list[str] | None:
    """NodeODM's ``outputs``: a JSON list of paths relative to the project that all.zip holds instead of its
    default list (ODM's split-merge asks its submodels for opensfm/... and odm_orthophoto/... files); it
    becomes the ODMJob's spec.output.archivePaths. Traversal and odd characters are refused, not stripped as
    NodeODM strips them (libs/utils.js): the archive would silently miss what the client asked for."""
    if raw in (None, ""):
        return None
    try:
        paths = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"Invalid outputs: not JSON ({exc.msg})") from exc
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise BadRequest("Invalid outputs: expected a JSON list of paths relative to the project")
    if len(paths) > MAX_OUTPUTS:
        raise BadRequest(f"Invalid outputs: at most {MAX_OUTPUTS} paths, got {len(paths)}")
    for path in paths:
        if ".." in path.split("/") or not _OUTPUT_PATH.match(path):
            raise BadRequest(
                f"Invalid outputs: {path!r} is not a path inside the project (letters, digits, '.', '_', '-' "
                "and '/', not starting with '/' or '.', no '..')"
            )
    return [p.rstrip("/") for p in paths] or None


# ----- uploaded files --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    kind: str  # image | gcp | geo | image_groups | align | seed
    stored_as: str  # the name under the task's staging images/ prefix


def route_upload(filename: str | None) -> Upload:
    """Where an uploaded file goes, as NodeODM routes it: images as they are; ``geo.txt`` and
    ``image_groups.txt`` by name; any other ``.txt`` is the GCP file (stored as gcp_list.txt, which ODM finds
    in the project); align.(las|laz|tif) by name; ``seed.zip`` is unpacked into the project. Names with a path,
    control characters or a leading dot are refused (NodeODM's multer would keep only the base name)."""
    name = filename or ""
    if len(name) > MAX_NAME or _BAD_NAME.search(name) or name in (".", ".."):
        raise BadRequest(
            f"Invalid file name {name!r}: a file name without '/', '\\', control characters or a leading '.' "
            f"(at most {MAX_NAME} characters)"
        )
    lower = name.lower()
    if lower == SEED:
        return Upload("seed", SEED)
    if lower in ("geo.txt", "image_groups.txt"):
        return Upload(lower[: -len(".txt")], lower)
    if lower.endswith(".txt"):
        return Upload("gcp", "gcp_list.txt")
    if lower in ALIGN_FILES:
        return Upload("align", lower)
    if lower.endswith(IMAGE_EXTENSIONS):
        return Upload("image", name)
    allowed = ", ".join(e[1:] for e in IMAGE_EXTENSIONS)
    raise BadRequest(
        f"Invalid file {name!r}: expected an image ({allowed}), a .txt (GCP list, geo.txt, image_groups.txt), "
        f"align.las/laz/tif or seed.zip"
    )


def check_seed_zip(fileobj: IO[bytes]) -> list[str]:
    """The member names of a seed.zip, refused when it is not a zip or a member would land outside the
    project (absolute path, '..', a drive letter, a backslash, a symbolic link): zip-slip."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except zipfile.BadZipFile as exc:
        raise BadRequest("Invalid seed.zip: not a zip archive") from exc
    names = []
    with archive:
        for info in archive.infolist():
            name = info.filename
            parts = name.split("/")
            mode = info.external_attr >> 16
            if (
                name.startswith("/")
                or "\\" in name
                or ".." in parts
                or re.match(r"^[A-Za-z]:", name)
                or "\x00" in name
                or stat.S_ISLNK(mode)
            ):
                raise BadRequest(f"Invalid seed.zip: member {name!r} would be written outside the project")
            names.append(name)
    return names


# ----- TaskInfo --------------------------------------------------------------------------------------------


def _ms(stamp: str | None) -> int | None:
    if not stamp:
        return None
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def status_of(job: dict[str, Any]) -> tuple[int, str | None]:
    """(NodeODM status code, errorMessage). RUNNING from commit to the end, even while ECS scales out: QUEUED
    only when the namespace's concurrency quota holds the job back (ODM's split-merge reads QUEUED as "node
    full" and resubmits elsewhere)."""
    meta, status = job.get("metadata", {}), job.get("status") or {}
    phase, reason = status.get("phase"), status.get("reason")
    if phase == "Succeeded":
        return COMPLETED, None
    if phase == "Cancelled" or phase == "Suspended" or (meta.get("annotations") or {}).get(ANN_CANCELED):
        return CANCELED, None
    if phase == "Failed":
        return FAILED, _error_message(status)
    if phase == "Pending" and reason == "QuotaExceeded":
        return QUEUED, None
    return RUNNING, None


# The operator's reasons for an ODM exit code (plan/outcome.py); NodeODM words those by the code.
ODM_EXIT_REASONS = frozenset({reason for reason, _ in ODM_EXIT_CODES.values()} | {"OutOfMemory"})


def _error_message(status: dict[str, Any]) -> str:
    attempts = status.get("attempts") or []
    code = attempts[-1].get("exitCode") if attempts else None
    if status.get("reason") in ODM_EXIT_REASONS and isinstance(code, int):
        return EXIT_MESSAGES.get(code, f"Processing failed ({code})")
    return f"{status.get('reason') or 'Failed'}: {status.get('message') or ''}".strip()


def task_info(job: dict[str, Any], now_ms: int, output: list[str] | None = None) -> dict[str, Any]:
    meta, status = job["metadata"], job.get("status") or {}
    ann = meta.get("annotations") or {}
    code, error = status_of(job)
    created = _ms(meta.get("creationTimestamp")) or now_ms
    if code == CANCELED:
        processing = -1
    elif status.get("phase") in FINISHED_PHASES:
        processing = max(0, (_ms(status.get("completionTime")) or now_ms) - created)
    else:
        processing = max(0, now_ms - created)
    progress = 100.0 if code == COMPLETED else float((status.get("progress") or {}).get("percent") or 0)
    info: dict[str, Any] = {
        "uuid": meta["labels"][LABEL_TASK],
        "name": ann.get(ANN_NAME, ""),
        "dateCreated": int(ann.get(ANN_DATE) or created),
        "processingTime": processing,
        "status": {"code": code, **({"errorMessage": error} if error else {})},
        "options": json.loads(ann.get(ANN_OPTIONS) or "[]"),
        "imagesCount": int(ann.get(ANN_IMAGES) or 0),
        "progress": progress,
    }
    if output is not None:
        info["output"] = output
    return info


def slice_lines(lines: list[str], start: int) -> list[str]:
    """NodeODM's getOutput(n): lines[n:], so a negative n gives the last |n| lines."""
    return lines[start:]


def default_name(now_ms: int) -> str:
    return "Task of " + datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
