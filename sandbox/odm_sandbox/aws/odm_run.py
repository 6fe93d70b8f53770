"""What an ODM 3.6.0 container does with a dataset, a command line and memory: log lines, exit code, files.

Pure, so it can be table-tested. Each behaviour follows ODM's source (OpenDroneMap/ODM at v3.6.0):
- The command line is parsed with ODM's own rules (odm_cli.py): a bad flag or value exits 2 with argparse's
  message before anything runs.
- run.py prints ``Initializing ODM <version> - <time>`` and the options between ``==============`` lines; every
  stage prints ``Running <stage> stage`` / ``Finished <stage> stage`` (opendm/types.py ODM_Stage.run). The
  pipeline (stages/odm_app.py) always wires dataset, split, merge, opensfm, [openmvs unless fast-orthophoto],
  odm_filterpoints ... odm_postprocess; split and merge log "Normal dataset" when not splitting, odm_dem logs
  "Create DSM: False". ``--end-with X`` and ``--rerun X`` stop after X ("No more stages to run"); on a fresh
  work volume ``--rerun-from`` runs everything.
- Split-merge (stages/splitmerge.py) starts when image_groups.txt is in the project or there are more images
  than ``--split`` (the sandbox's images are geotagged); the split stage then runs the whole pipeline on every
  submodel, whose output is printed into the main log, and the merge stage jumps to odm_postprocess: the main
  run has no opensfm ... odm_report of its own, hence no textured model and no report.pdf.
- Failures (stages/odm_app.py execute): a child process killed for memory returns 137 and ODM prints its
  "Dumping Info for Geeks" block and "You ran out of memory!"; 139/134/1 from a child print "strange values",
  132 "CPU is not supported", 3 "can't find a program"; the code is ODM's exit code. A full disk is an uncaught
  OSError (errno 28) in Python: a traceback and exit 1. The memory rule is odm_memory.py (independent of the
  operator's sizing); the others are injected through the control API (``POST /odm-failures``).
- log.json is opendm/log.py's layout: odmVersion, memory {total, available} in MiB, cpus, images, options,
  startTime, stages [{name, startTime, messages}] (endTime and totalTime on the last stage only), processes,
  success, endTime, totalTime and, on failure, error {code, message} and stackTrace.
- Unless the environment has ``no_ansiesc`` (opendm/log.py), every line is wrapped in ANSI colour codes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from . import odm_memory, odm_products
from .odm_cli import OdmArgs, OdmUsageError, facts, parse
from .odm_log import FAILURE_MESSAGES, STRANGE_CODE_MESSAGE, odm_line

ODM_VERSION = "3.6.0"
TIME_PLACEHOLDER = "{time}"

# ODM's progress when each stage ends (stages/odm_app.py), used here only as each stage's share of the time.
STAGE_PROGRESS = {
    "dataset": 5, "split": 5, "merge": 5, "opensfm": 25, "openmvs": 50, "odm_filterpoints": 52,
    "odm_meshing": 60, "mvs_texturing": 70, "odm_georeferencing": 80, "odm_dem": 90, "odm_orthophoto": 98,
    "odm_report": 99, "odm_postprocess": 100,
}  # fmt: skip
MIN_STAGE_WEIGHT = 0.5
# Where in the failing stage a failure lands, as a fraction of the stage's time.
FAILURE_POINT_IN_STAGE = 0.6
# In a split run: the share of the time spent on the main run's own stages (dataset, split setup, merge).
SPLIT_OWN_SHARE = 0.15

OOM_EXIT_CODE = 137
DISK_FULL = "disk-full"
DISK_FULL_ERROR = "[Errno 28] No space left on device"
# Where an injected failure lands when it names no stage: the heaviest stage the run has.
DEFAULT_FAILURE_STAGES = ("openmvs", "opensfm", "odm_filterpoints", "odm_postprocess")


@dataclass(frozen=True)
class Dataset:
    """What stage-in left in the project folder."""

    images: int
    aux_files: tuple[str, ...] = ()
    seed_files: tuple[str, ...] = ()  # what seed.zip put in the project

    @property
    def has_image_groups(self) -> bool:
        return "image_groups.txt" in self.aux_files

    @property
    def stop_at_reconstruction(self) -> bool:
        """stages/run_opensfm.py: this touch file (a split-merge submodel's first pass) stops after opensfm."""
        return odm_products.STOP_AT_RECONSTRUCTION in self.seed_files

    @property
    def is_submodel(self) -> bool:
        """opendm/osfm.py is_submodel: the touch file, or opensfm/features/empty (the toolchain pass's seed)."""
        return self.stop_at_reconstruction or "opensfm/features/empty" in self.seed_files


@dataclass(frozen=True)
class Failure:
    """A failure injected through the control API: ``exit_code`` (or DISK_FULL) in ``stage`` (or the default)."""

    exit_code: int | str
    stage: str | None = None


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
    stages: tuple[StageSpan, ...] = ()
    out_of_memory: bool = False
    files: tuple[str, ...] = ()  # written under the project folder (relative paths)
    args: OdmArgs | None = None
    images: int = 0
    memory_mib: int | None = None
    cpus: int = 1
    error: str | None = None
    submodels: int = 0
    version: str = ODM_VERSION

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


class _Log:
    def __init__(self, ansi: bool) -> None:
        self.ansi = ansi
        self.lines: list[LogLine] = []

    def add(self, at: float, message: str, level: str = "INFO") -> None:
        self.lines.append(LogLine(at, odm_line(message, level, self.ansi)))

    def raw(self, at: float, message: str) -> None:
        self.lines.append(LogLine(at, message))


def pipeline(args: OdmArgs) -> list[str]:
    """The stages stages/odm_app.py connects, in order."""
    return [s for s in facts()["stages"] if not (s == "openmvs" and args.fast_orthophoto)]


def _last_stage(args: OdmArgs, stages: list[str]) -> str:
    """ODM_Stage.run stops after --end-with or --rerun; a stage the pipeline never reaches stops nothing."""
    for stop in (args.rerun, args.end_with):
        if stop and stop in stages:
            return stop
    return stages[-1]


def _weights(stages: list[str]) -> list[float]:
    previous, out = 0, []
    for name in facts()["stages"]:
        weight = max(float(STAGE_PROGRESS[name] - previous), MIN_STAGE_WEIGHT)
        previous = STAGE_PROGRESS[name]
        if name in stages:
            out.append(weight)
    return out


def split_active(args: OdmArgs, dataset: Dataset) -> bool:
    """stages/splitmerge.py: image_groups.txt in the project, or more photos than --split (geotagged)."""
    return dataset.has_image_groups or dataset.images > args.split


def submodel_count(args: OdmArgs, dataset: Dataset) -> int:
    """OpenSfM groups the images into clusters of about --split images each."""
    return max(2, math.ceil(dataset.images / max(1, args.split)))


def plan_odm_run(
    argv: list[str],
    dataset: Dataset,
    memory_mib: int | None,
    duration_s: float,
    host_cpus: int | None = None,
    ansi: bool = False,
    failure: Failure | None = None,
) -> OdmRun:
    """The run of ODM on ``dataset`` with command line ``argv``, ``duration_s`` simulated seconds on success."""
    try:
        args = parse(argv)
    except OdmUsageError as exc:
        return OdmRun(tuple(LogLine(0.0, line) for line in exc.message.splitlines()), exc.exit_code, 0.0)
    log = _Log(ansi)
    cpus = host_cpus or 1
    for warning in args.warnings:  # config() logs these while parsing, before run.py's first line
        log.add(0.0, warning, "WARNING")
    for note in args.notes:
        log.add(0.0, note)
    if not args.project_path:
        log.add(0.0, "You need to set the project path in the settings.yaml file before you can run ODM, "
                "or use `--project-path <path>`. Run `python3 run.py --help` for more information. ", "ERROR")  # fmt: skip
        return OdmRun(tuple(log.lines), 1, 0.0, args=args, images=dataset.images, cpus=cpus)
    log.add(0.0, f"Initializing ODM {ODM_VERSION} - {TIME_PLACEHOLDER}")
    _print_options(log, args)
    split = split_active(args, dataset)
    submodels = submodel_count(args, dataset) if split else 0
    at_once = -(-dataset.images // submodels) if split else dataset.images
    processes = args.max_concurrency if "max_concurrency" in args.given else host_cpus
    if odm_memory.out_of_memory(memory_mib, at_once, processes):
        failure = Failure(OOM_EXIT_CODE, failure.stage if failure else None)
    run = _Runner(log, args, dataset, duration_s, failure)
    if split:
        run.split_run(submodels)
    else:
        run.main_run()
    files = () if run.failed else tuple(run.files)
    if not run.failed:
        log.add(run.t, f"ODM app finished - {TIME_PLACEHOLDER}")
    return OdmRun(
        tuple(log.lines), run.exit_code, run.t, tuple(run.spans), run.exit_code == OOM_EXIT_CODE,
        files, args, dataset.images, memory_mib, cpus, run.error, submodels,
    )  # fmt: skip


def _print_options(log: _Log, args: OdmArgs) -> None:
    """run.py prints every option; the sandbox prints those the command line set (the rest are ODM's
    defaults), which keeps a thousand simulated jobs from writing 90 lines each to the log emulator."""
    log.add(0.0, "==============")
    for name in sorted(args.given):
        if name != "name":
            log.add(0.0, f"{name}: {args.values[name]}")
    log.add(0.0, "==============")


class _Runner:
    """Walks the pipeline, writing lines and files; stops at the injected failure."""

    def __init__(
        self, log: _Log, args: OdmArgs, dataset: Dataset, duration_s: float, failure: Failure | None
    ):
        self.log, self.args, self.dataset, self.duration_s, self.failure = (
            log,
            args,
            dataset,
            duration_s,
            failure,
        )
        self.t = 0.0
        self.spans: list[StageSpan] = []
        self.files: list[str] = []
        self.failed = False
        self.exit_code = 0
        self.error: str | None = None

    def _fail_stage(self, stages: list[str]) -> str | None:
        if self.failure is None:
            return None
        if self.failure.stage in stages:
            return self.failure.stage
        return next((s for s in DEFAULT_FAILURE_STAGES if s in stages), stages[-1])

    def main_run(self) -> None:
        stages = pipeline(self.args)
        last = _last_stage(self.args, stages)
        stages = stages[: stages.index(last) + 1]
        weights = _weights(stages)
        fail_at = self._fail_stage(stages)
        total = sum(weights)
        for name, weight in zip(stages, weights, strict=True):
            length = self.duration_s * weight / total
            if not self._stage(name, length, fail_at == name):
                return
            if name == "opensfm" and self.dataset.stop_at_reconstruction:
                return  # next_stage = None: no "No more stages to run" either
        if last != "odm_postprocess":
            self.log.add(self.t, "No more stages to run")

    def _stage(self, name: str, length: float, fail: bool, detail: Callable[[], None] | None = None) -> bool:
        start = self.t
        self.log.add(self.t, f"Running {name} stage")
        if fail:
            self.t += length * FAILURE_POINT_IN_STAGE
            self.spans.append(StageSpan(name, start, self.t, finished=False))
            self._failure_lines()
            return False
        (detail or (lambda: self._details(name)))()
        if self.failed:  # inside a submodel
            self.spans.append(StageSpan(name, start, self.t, finished=False))
            return False
        self.t = max(self.t, start + length)
        self.spans.append(StageSpan(name, start, self.t, finished=True))
        self.log.add(self.t, f"Finished {name} stage")
        return True

    def _details(self, name: str) -> None:
        a = self.args
        if name == "dataset":
            self.log.add(self.t, f"Loading dataset from: {a.project_path}/{a.project}/images")
            self.log.add(self.t, f"Loading {self.dataset.images} images")
        elif name == "split":
            self.log.add(self.t, "Normal dataset, will process all at once.")
        elif name == "merge":
            self.log.add(self.t, "Normal dataset, nothing to merge.")
        elif name == "odm_dem":
            self.log.add(self.t, f"Create DSM: {a.dsm}")
            self.log.add(self.t, f"Create DTM: {a.dtm}")
            if not (a.dsm or a.dtm):
                self.log.add(self.t, "DEM will not be generated", "WARNING")
        elif name == "odm_postprocess":
            self.log.add(self.t, "Post Processing")
        elif name == "opensfm" and "opensfm/reconstruction.json" in self.dataset.seed_files:
            where = f"{a.project_path}/{a.project}/opensfm/reconstruction.json"
            self.log.add(self.t, f"Found a valid OpenSfM reconstruction file in: {where}", "WARNING")
        if name == "opensfm" and self.dataset.stop_at_reconstruction:
            found = (
                f"{a.project_path}/{a.project}/opensfm/{odm_products.STOP_AT_RECONSTRUCTION.split('/')[-1]}"
            )
            self.log.add(self.t, f"Stopping OpenSfM early because we found: {found}")
        self.files.extend(odm_products.stage_files(name, a, self.dataset.is_submodel))

    def split_run(self, submodels: int) -> None:
        a = self.args
        own = self.duration_s * SPLIT_OWN_SHARE
        per_submodel = (self.duration_s - own) / submodels
        stages = ["dataset", "split", "merge", "odm_postprocess"]
        last = _last_stage(a, stages)
        fail_at = self._fail_stage(stages)
        if self.failure is not None and self.failure.stage not in stages:
            fail_at = "split"  # the heavy work of a split run is in the submodels
        if not self._stage("dataset", own * 0.3, fail_at == "dataset"):
            return
        if last == "dataset":
            self.log.add(self.t, "No more stages to run")
            return
        length = own * 0.3 + per_submodel * submodels
        if not self._stage("split", length, False, lambda: self._submodels(submodels, per_submodel, fail_at)):
            return
        if last == "split":
            self.log.add(self.t, "No more stages to run")
            return
        for name in ("merge", "odm_postprocess"):
            if not self._stage(name, own * 0.2, fail_at == name, lambda n=name: self._merge_details(n)):
                return
            if name == last and name != "odm_postprocess":
                self.log.add(self.t, "No more stages to run")
                return

    def _submodels(self, submodels: int, per_submodel: float, fail_at: str | None) -> None:
        """The split stage: cluster, then run the whole pipeline on each submodel, whose log ODM reprints."""
        a = self.args
        self.log.add(self.t, f"Large dataset detected ({self.dataset.images} photos) and split set at {a.split}. "
                     "Preparing split merge.")  # fmt: skip
        self.log.add(
            self.t, f"Dataset has been split into {submodels} submodels. Reconstructing each submodel..."
        )
        for k in range(submodels):
            self.log.add(
                self.t, f"Reconstructing {a.project_path}/{a.project}/submodels/submodel_{k:04d}/opensfm"
            )
        sub_args = odm_products.submodel_args(a)
        sub_stages = pipeline(sub_args)
        weights = _weights(sub_stages)
        # An injected failure named for a submodel stage lands in the last submodel; "split" in its heaviest stage.
        sub_fail = None
        if self.failure is not None and fail_at == "split":
            wanted = self.failure.stage if self.failure.stage in sub_stages else None
            sub_fail = wanted or self._fail_stage(sub_stages)
        for k in range(submodels):
            self.log.add(self.t, "========================")
            self.log.add(self.t, f"Processing submodel_{k:04d}")
            self.log.add(self.t, "========================")
            self.log.add(self.t, f"Initializing ODM {ODM_VERSION} - {TIME_PLACEHOLDER}")
            start = self.t
            for name, weight in zip(sub_stages, weights, strict=True):
                length = per_submodel * weight / sum(weights)
                self.log.add(self.t, f"Running {name} stage")
                if k == submodels - 1 and name == sub_fail:
                    self.t += length * FAILURE_POINT_IN_STAGE
                    self._failure_lines()
                    return
                self.t += length
                self.log.add(self.t, f"Finished {name} stage")
            self.t = start + per_submodel

    def _merge_details(self, name: str) -> None:
        if name == "odm_postprocess":
            self.log.add(self.t, "Post Processing")
        else:
            self.log.add(self.t, f"Merging {self.args.merge}")
        self.files.extend(odm_products.split_files(name, self.args))

    def _failure_lines(self) -> None:
        assert self.failure is not None
        self.failed = True
        code = self.failure.exit_code
        if code == DISK_FULL:
            self.exit_code = 1
            self.error = DISK_FULL_ERROR
            for line in ("Traceback (most recent call last):", '  File "/code/run.py", line 98, in <module>',
                         "    retcode = app.execute()", f"OSError: {DISK_FULL_ERROR}"):  # fmt: skip
                self.log.raw(self.t, line)
            return
        assert isinstance(code, int)
        self.exit_code = code
        self.error = f"Child returned {code}"
        for line in ("", "===== Dumping Info for Geeks (developers need this to fix bugs) =====", self.error,
                     "Traceback (most recent call last):", '  File "/code/stages/odm_app.py", line 82, in execute',
                     "    self.first_stage.run()", f"opendm.system.SubprocessException: {self.error}",
                     "===== Done, human-readable information to follow... =====", ""):  # fmt: skip
            self.log.raw(self.t, line)
        self.log.add(self.t, FAILURE_MESSAGES.get(code, STRANGE_CODE_MESSAGE), "ERROR")
