"""What an ODM container does with a given dataset, options and memory: its log lines, exit code and products.

This is the part of the simulation that carries ODM's semantics (reference/ecs-odm-facts.md section 9), kept
pure so it can be table-tested: the stages ODM runs in order (split/merge only when the dataset is split,
openmvs not with --fast-orthophoto, odm_dem only with --dsm or --dtm), the ``[INFO]    Running <stage> stage``
lines the operator turns into progress, the out-of-memory failure (exit 137 and ODM's "You ran out of memory!"
message) when the memory is below ODM's table for the image count, and the product files stage-out uploads.

Memory rule: the table in ODM's installation guide says "GB"; we read it as GiB (``need_mib = gb * 1024``),
because machine and task memory come in binary units: a 16 GiB task (memory "16384") exactly meets the "250
images -> 16 GB" row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from odm_operator import contract

ODM_VERSION = "3.6.0"

# ODM's store-true flags (opendm/config.py): they take no value, so the token after them is not theirs.
BOOLEAN_OPTIONS = frozenset({
    "3d-tiles", "auto-boundary", "bg-removal", "build-overviews", "cog", "debug", "dsm", "dtm",
    "fast-orthophoto", "force-gps", "ignore-gsd", "no-gpu", "optimize-disk-space", "orthophoto-kmz",
    "orthophoto-no-tiled", "orthophoto-png", "pc-classify", "pc-copc", "pc-csv", "pc-ept", "pc-las",
    "pc-rectify", "rerun-all", "skip-3dmodel", "skip-band-alignment", "skip-orthophoto", "skip-report",
    "sky-removal", "sm-no-align", "texturing-keep-unseen-faces", "texturing-single-material", "tiles",
    "use-3dmesh", "use-exif", "use-fixed-camera-params", "use-hybrid-bundle-adjustment", "verbose",
})  # fmt: skip

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})

# Weight of each stage in the run time, from the progress ODM reports when it finishes (contract.ODM_STAGES);
# split and merge report 0 when unsplit and get a share of their own when the dataset is split.
SPLIT_STAGE_WEIGHT = 2.0
MIN_STAGE_WEIGHT = 0.5

# Where in the failing stage the OOM kill lands, as a fraction of the stage's time.
OOM_POINT_IN_STAGE = 0.6

# ODM's own wording (stages/odm_app.py) when a child process exits 137.
OOM_MESSAGE = (
    "Whoops! You ran out of memory! Add more RAM to your computer, if you're using docker configure it to "
    "use more memory, for WSL2 make use of .wslconfig (https://docs.microsoft.com/en-us/windows/wsl/"
    "wsl-config#configure-global-options-with-wslconfig), resize your images, lower the quality settings "
    "or process the images using a cloud provider (e.g. https://webodm.net)."
)
OOM_EXIT_CODE = 137

# A few lines ODM prints inside each stage, so a log reader sees more than the stage markers.
STAGE_DETAIL = {
    "dataset": ("Loading dataset from: {project_path}/{project}/images", "Loading {images} images"),
    "opensfm": ("Extracting features", "Matching image pairs", "Running incremental reconstruction"),
    "openmvs": ("Estimating depthmaps", "Fusing depthmaps"),
    "odm_filterpoints": ("Filtering {project_path}/{project}/odm_filterpoints/point_cloud.ply",),
    "odm_meshing": ("Creating DSM for 2.5D mesh",),
    "mvs_texturing": ("Writing MVS Textured file",),
    "odm_georeferencing": ("Georeferencing point cloud",),
    "odm_dem": ("Creating DEM(s)",),
    "odm_orthophoto": ("Creating GeoTIFF",),
    "odm_report": ("Exporting report to {project_path}/{project}/odm_report/report.pdf",),
    "odm_postprocess": ("Post Processing",),
}

TIME_PLACEHOLDER = "{time}"


def odm_line(message: str, level: str = "INFO") -> str:
    """ODM's log format: the level in brackets, padded to ten columns."""
    return f"{f'[{level}]':<10}{message}"


@dataclass(frozen=True)
class OdmOptions:
    """ODM's command line: ``--project-path /data project --dsm --orthophoto-resolution 2``."""

    values: Mapping[str, str | bool] = field(default_factory=dict)
    project_path: str = contract.DATA_DIR
    project: str = contract.PROJECT

    @classmethod
    def parse(cls, args: Sequence[str]) -> OdmOptions:
        values: dict[str, str | bool] = {}
        positional: list[str] = []
        tokens = list(args)
        i = 0
        while i < len(tokens):
            token = tokens[i]
            i += 1
            if not token.startswith("--"):
                positional.append(token)
                continue
            name, eq, inline = token[2:].partition("=")
            if eq:
                values[name] = inline
            elif name in BOOLEAN_OPTIONS:
                following = tokens[i].lower() if i < len(tokens) else ""
                if following in TRUE_WORDS | FALSE_WORDS:
                    values[name] = following in TRUE_WORDS
                    i += 1
                else:
                    values[name] = True
            elif i < len(tokens) and not tokens[i].startswith("--"):
                values[name] = tokens[i]
                i += 1
            else:
                values[name] = True
        project_path = str(values.pop("project-path", contract.DATA_DIR))
        project = positional[-1] if positional else contract.PROJECT
        return cls(values, project_path, project)

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        return value is True or (isinstance(value, str) and value.lower() in TRUE_WORDS)

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if isinstance(value, str) else None

    def split_active(self, images: int) -> bool:
        split = self.get("split")
        try:
            return split is not None and images > int(split)
        except ValueError:
            return False


def memory_needed_mib(images: int) -> int | None:
    """MiB ODM needs for ``images`` images; None when beyond the table.

    ODM's table is in decimal gigabytes of machine RAM (64 GB for 1500 images is a 64 GB machine, which ECS
    registers with a little less than 64 GiB), so a task with ``64G`` (61035 MiB) is enough and the operator's
    sizing (plan/sizing.py) asks exactly that."""
    gb = contract.odm_memory_gb(images)
    return None if gb is None else -(-gb * 10**9 // 2**20)


def stages_for(options: OdmOptions, images: int) -> list[tuple[str, float]]:
    """The stages ODM runs, in order, with their share of the run time."""
    split = options.split_active(images)
    stages: list[tuple[str, float]] = []
    previous = 0
    for name, percent in contract.ODM_STAGES:
        weight = float(percent - previous)
        previous = percent
        if name in ("split", "merge"):
            if not split:
                continue
            weight = SPLIT_STAGE_WEIGHT
        if name == "openmvs" and options.flag("fast-orthophoto"):
            continue
        if name == "odm_dem" and not (options.flag("dsm") or options.flag("dtm")):
            continue
        stages.append((name, max(weight, MIN_STAGE_WEIGHT)))
    return stages


@dataclass(frozen=True)
class LogLine:
    at: float  # simulated seconds after the odm container started
    message: str  # may contain TIME_PLACEHOLDER, replaced by the wall time when written


@dataclass(frozen=True)
class StageSpan:
    name: str
    start: float
    end: float
    finished: bool


@dataclass(frozen=True)
class OdmRun:
    lines: tuple[LogLine, ...]
    exit_code: int
    duration_s: float
    stages: tuple[StageSpan, ...]
    out_of_memory: bool

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


def plan_odm_run(
    images: int, options: OdmOptions, memory_mib: int | None, duration_s: float, has_gcp: bool = False
) -> OdmRun:
    """The run of ODM on ``images`` images taking ``duration_s`` simulated seconds when it succeeds."""
    need = memory_needed_mib(images)
    out_of_memory = need is None or (memory_mib is not None and memory_mib < need)
    stages = stages_for(options, images)
    fail_stage = None
    if out_of_memory:
        names = [name for name, _ in stages]
        heavy_first = memory_mib is not None and need is not None and memory_mib * 2 >= need
        fail_stage = "openmvs" if heavy_first and "openmvs" in names else "opensfm"
    total_weight = sum(weight for _, weight in stages)
    fmt = {"images": images, "project_path": options.project_path, "project": options.project}

    lines = [
        LogLine(0.0, odm_line(f"Initializing ODM {ODM_VERSION} - {TIME_PLACEHOLDER}")),
        LogLine(0.0, odm_line("==============")),
    ]
    for name in sorted(options.values):
        lines.append(LogLine(0.0, odm_line(f"{name.replace('-', '_')}: {options.values[name]}")))
    lines.append(LogLine(0.0, odm_line(f"project_path: {options.project_path}")))
    lines.append(LogLine(0.0, odm_line("==============")))

    spans: list[StageSpan] = []
    t = 0.0
    for name, weight in stages:
        length = duration_s * weight / total_weight
        lines.append(LogLine(t, odm_line(f"Running {name} stage")))
        details = STAGE_DETAIL.get(name, ())
        if name == "dataset" and has_gcp:
            details = (*details, "Found GCP file: {project_path}/{project}/gcp_list.txt")
        for k, detail in enumerate(details):
            lines.append(LogLine(t + length * (k + 1) / (len(details) + 1), odm_line(detail.format(**fmt))))
        if name == fail_stage:
            end = t + length * OOM_POINT_IN_STAGE
            spans.append(StageSpan(name, t, end, finished=False))
            lines.extend(LogLine(end, message) for message in _oom_dump())
            return OdmRun(tuple(lines), OOM_EXIT_CODE, end, tuple(spans), out_of_memory=True)
        t += length
        spans.append(StageSpan(name, t - length, t, finished=True))
        lines.append(LogLine(t, odm_line(f"Finished {name} stage")))
    lines.append(LogLine(t, odm_line(f"ODM app finished - {TIME_PLACEHOLDER}")))
    return OdmRun(tuple(lines), 0, t, tuple(spans), out_of_memory=False)


def _oom_dump() -> list[str]:
    """What ODM prints when a child process is killed for memory (stages/odm_app.py)."""
    return [
        "",
        "===== Dumping Info for Geeks (developers need this to fix bugs) =====",
        f"Child returned {OOM_EXIT_CODE}",
        "Traceback (most recent call last):",
        '  File "/code/stages/odm_app.py", line 82, in execute',
        "    self.first_stage.run()",
        f"opendm.system.SubprocessException: Child returned {OOM_EXIT_CODE}",
        "===== Done, human-readable information to follow... =====",
        "",
        odm_line(OOM_MESSAGE, "ERROR"),
    ]


def products_for(options: OdmOptions) -> list[str]:
    """Files (relative to the project directory) a successful run leaves for stage-out, besides log.json.

    The .laz point cloud is always written; --pc-las and --pc-copc add the .las and .copc.laz variants.
    """
    products = []
    if not options.flag("skip-orthophoto"):
        products.append("odm_orthophoto/odm_orthophoto.tif")
    if options.flag("dsm"):
        products.append("odm_dem/dsm.tif")
    if options.flag("dtm"):
        products.append("odm_dem/dtm.tif")
    products.append("odm_georeferencing/odm_georeferenced_model.laz")
    if options.flag("pc-las"):
        products.append("odm_georeferencing/odm_georeferenced_model.las")
    if options.flag("pc-copc"):
        products.append("odm_georeferencing/odm_georeferenced_model.copc.laz")
    if options.flag("pc-ept"):
        products.append("entwine_pointcloud/ept.json")
    if not options.flag("skip-3dmodel"):
        products.append("odm_texturing/odm_textured_model_geo.obj")
    if not options.flag("skip-report"):
        products.append("odm_report/report.pdf")
    return products


def log_json(
    run: OdmRun, options: OdmOptions, images: int, memory_mib: int | None, iso_at: Callable[[float], str]
) -> bytes:
    """ODM's log.json (opendm/log.py): options, stages with times, success and the error when it failed."""
    doc: dict[str, object] = {
        "odmVersion": ODM_VERSION,
        "memoryGB": round((memory_mib or 0) / 1024, 2),
        "images": images,
        "options": {name.replace("-", "_"): value for name, value in options.values.items()},
        "startTime": iso_at(0.0),
        "stages": [
            {"name": span.name, "startTime": iso_at(span.start), "endTime": iso_at(span.end), "messages": []}
            for span in run.stages
        ],
        "processes": [],
        "success": run.succeeded,
        "endTime": iso_at(run.duration_s),
        "totalTime": round(run.duration_s, 2),
    }
    if not run.succeeded:
        doc["error"] = {"code": run.exit_code, "message": OOM_MESSAGE if run.out_of_memory else "ODM failed"}
    return json.dumps(doc, indent=2).encode()
