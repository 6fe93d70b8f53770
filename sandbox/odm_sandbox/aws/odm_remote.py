"""ODM's distributed split-merge in the simulated odm container: what ``--sm-cluster`` makes ODM 3.6.0 do.

Learnt from OpenDroneMap/ODM (stages/splitmerge.py, opendm/remote.py, opendm/osfm.py, opendm/config.py; AGPL:
behaviour only, our own code). The real client does the talking: pyodm, over HTTP, to the gateway.
- config(): ``Node.from_url(sm_cluster).info()``; a node that does not answer is "Cluster node seems to be
  offline" and exit 1, before anything runs.
- The split stage lowers max-concurrency by one, splits the images into submodels, and runs two passes over
  them, each through a LocalRemoteExecutor: a queue served by a *local* worker (this task processes one
  submodel at a time itself) and a *remote* worker that waits until the local one is busy, then sends the next
  submodel to the node: ``create_task(images + gcp_list.txt + geo.txt + seed.zip, submodel options,
  skip_post_processing=True, outputs=[...])``. Right after the upload the task must be RUNNING or COMPLETED;
  QUEUED (then or later) means "node task limit reached": the task is removed, put back in the queue (no retry
  counted) and the number of remote tasks is capped at those running. A finished task's all.zip is downloaded
  and extracted into the submodel folder (its paths relative to the project root), then the task is removed.
  A failed or canceled task is fatal (its output goes to error.log); other errors are retried up to 5 times,
  ``retries * 10`` seconds apart. When ODM ends (or is stopped) every remote task still listed is removed.
- Pass 1 (reconstruction): seed opensfm/{exif, camera_models.json, reference_lla.json} and the touch file
  opensfm/split_merge_stop_at_reconstruction.txt; outputs opensfm/{matches, features, reconstruction.json,
  tracks.csv} and cameras.json. A submodel without reconstruction.json afterwards is skipped at alignment.
- Pass 2 (toolchain): seed the OpenSfM files plus empty features/, matches/, exif/ (opensfm/*/empty); outputs
  odm_orthophoto/{cutline.gpkg, odm_orthophoto_cut.tif, odm_orthophoto_feathered.tif}, odm_dem, odm_report,
  odm_georeferencing.
- Submodel options (osfm.py get_submodel_argv): the options the command line set, minus split, split-overlap,
  rerun*, gcp, end-with, sm-cluster, pc-csv, pc-las, pc-ept, tiles, cog; plus orthophoto-cutline,
  dem-euclidean-map, skip-3dmodel, skip-report; crop 0 becomes 0.015625.
- Merge (ODMMergeStage) uses what the submodels left: point clouds, orthophoto/cutline pairs, DEMs; a product no
  submodel has is not made (with ODM's warning). Then it jumps to odm_postprocess.
The images a submodel task receives are stand-ins (the original names, small bodies): the sandbox never reads
image contents.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyodm import Node, exceptions
from pyodm.types import TaskStatus

from . import odm_products
from .odm_log import odm_line
from .odm_run import OdmRun, StageSpan

MAX_RETRIES, RETRY_TIMEOUT_S = 5, 10  # opendm/remote.py Task defaults
POLL_S = 3  # pyodm Task.wait_for_completion's interval, in simulated seconds here
MIN_POLL_REAL_S = 0.1
REMOVE_ALWAYS = ("split", "split_overlap", "rerun_from", "rerun", "gcp", "end_with", "sm_cluster", "rerun_all",
                 "pc_csv", "pc_las", "pc_ept", "tiles", "cog", "project_path", "name")  # fmt: skip
ASSURE_ALWAYS = ("orthophoto_cutline", "dem_euclidean_map", "skip_3dmodel", "skip_report")
RECONSTRUCTION = {
    "seed": ("opensfm/exif/image.exif", "opensfm/camera_models.json", "opensfm/reference_lla.json",
             odm_products.STOP_AT_RECONSTRUCTION),
    "outputs": ["opensfm/matches", "opensfm/features", "opensfm/reconstruction.json", "opensfm/tracks.csv",
                "cameras.json"],
}  # fmt: skip
TOOLCHAIN = {
    "seed": ("opensfm/camera_models.json", "opensfm/reference_lla.json", "opensfm/reconstruction.json",
             "opensfm/tracks.csv", "opensfm/features/empty", "opensfm/matches/empty", "opensfm/exif/empty"),
    "outputs": ["odm_orthophoto/cutline.gpkg", "odm_orthophoto/odm_orthophoto_cut.tif",
                "odm_orthophoto/odm_orthophoto_feathered.tif", "odm_dem", "odm_report", "odm_georeferencing"],
}  # fmt: skip
_LAZ = "odm_georeferencing/odm_georeferenced_model.laz"
_CUT, _FEATHERED = "odm_orthophoto/odm_orthophoto_cut.tif", "odm_orthophoto/odm_orthophoto_feathered.tif"


class TaskLimitReached(Exception):
    """opendm/remote.py NodeTaskLimitReachedException: the node answered QUEUED."""


class Stopped(Exception):
    """The container got SIGTERM (StopTask): ODM's exit_gracefully."""


def distributed(plan: OdmRun) -> bool:
    """Whether this run sends its submodels to --sm-cluster (split active, the command line valid)."""
    return plan.args is not None and bool(plan.args.sm_cluster) and plan.submodels > 0 and plan.succeeded


def submodel_options(plan: OdmRun) -> dict[str, Any]:
    """opendm/osfm.py get_submodel_args_dict: the set options, as the strings argv would hold (flags True)."""
    assert plan.args is not None
    values, out = plan.args.values, {}
    for dest in sorted(set(plan.args.given) - set(REMOVE_ALWAYS)):
        value = values[dest]
        if dest == "max_concurrency":
            value = max(1, int(value) - 1)  # splitmerge.py: one less "to better handle remote splits"
        if dest == "crop" and float(value) == 0:
            value = 0.015625
        out[dest.replace("_", "-")] = True if value is True else str(value)
    for dest in ASSURE_ALWAYS:
        out[dest.replace("_", "-")] = True
    return {k: v for k, v in out.items() if v is not False}


@dataclass
class Submodel:
    name: str
    images: list[str]
    files: set[str] = field(default_factory=set)  # what the submodel folder holds (project-relative)
    retries: int = 0
    wait_until: float = 0.0  # simulated seconds
    task: Any = None  # its remote task while it has one


class RemoteSplitMerge:
    """Runs in its own thread: talks to the gateway without the agent's lock, hands lines and the end back."""

    def __init__(self, plan: OdmRun, image_names: tuple[str, ...], clock: Any, started_at: float,
                 emit: Callable[[list[str]], None], finish: Callable[[OdmRun], None], ansi: bool,
                 per_submodel_s: float) -> None:  # fmt: skip
        assert plan.args is not None
        self.plan, self.args, self.clock, self.started_at = plan, plan.args, clock, started_at
        self._emit, self._finish, self.ansi, self.per_submodel_s = emit, finish, ansi, per_submodel_s
        self.stop = threading.Event()
        self.images = list(image_names)
        self.remote_tasks: list[Any] = []
        self.spans: list[StageSpan] = []
        self.tmp = tempfile.mkdtemp(prefix="odm-remote-")
        self.thread = threading.Thread(target=self._main, name="odm-sandbox-sm-cluster", daemon=True)

    # ----- plumbing -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def log(self, message: str, level: str = "INFO") -> None:
        self._emit([odm_line(message, level, self.ansi)])

    def wait(self, sim_s: float) -> None:
        if self.stop.wait(self.clock.real_seconds(sim_s)):
            raise Stopped()

    def now(self) -> float:
        return self.clock.now() - self.started_at

    def _main(self) -> None:
        code, error, files = 0, None, ()
        try:
            files = self._run()
        except Stopped:
            code = 1  # exit_gracefully: os._exit(1) after the cleanup callbacks
            if self.stop.is_set():
                self.log("Caught TERM/INT signal, attempting to exit gracefully...", "WARNING")
                self._cleanup_remote_tasks()
        except Exception as exc:  # ODMApp.execute re-raises a non-subprocess error: a traceback, exit 1
            code, error = 1, str(exc)
            self._emit(["Traceback (most recent call last):", '  File "/code/run.py", line 98, in <module>',
                        "    retcode = app.execute()", f"{type(exc).__name__}: {exc}"])  # fmt: skip
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if not self.stop.is_set():
            if code == 0:
                self._emit([odm_line("ODM app finished - {time}", "INFO", self.ansi)])
            self._finish(_ended(self.plan, code, files, error, self.now(), tuple(self.spans)))

    # ----- the pipeline ---------------------------------------------------------------------------------------

    def _run(self) -> tuple[str, ...]:
        a = self.args
        try:
            self.node = Node.from_url(a.sm_cluster)
            self.info = self.node.info()
        except exceptions.NodeConnectionError as exc:  # opendm/config.py: sys.exit(1)
            self.log(f"Cluster node seems to be offline: {exc}", "ERROR")
            raise Stopped() from None
        first = next(i for i, line in enumerate(self.plan.lines) if "Running dataset stage" in line.message)
        self._emit([line.message for line in self.plan.lines[:first]])  # config()'s warnings, run.py's header
        files: list[str] = ["images.json", "img_list.txt"]
        self._stage("dataset", lambda: self.log(f"Loading {self.plan.images} images"), 0.05)
        submodels = self._submodels()
        self._stage("split", lambda: self._split(submodels), 0.05)
        self._stage("merge", lambda: files.extend(self._merge(submodels)), 0.05)
        self._stage("odm_postprocess", lambda: self.log("Post Processing"), 0.01)
        return tuple(files)

    def _stage(self, name: str, body: Callable[[], None], share: float) -> None:
        start = self.now()
        self.log(f"Running {name} stage")
        body()
        self.wait(self.plan.duration_s * share)
        self.spans.append(StageSpan(name, start, self.now(), finished=True))
        self.log(f"Finished {name} stage")

    def _submodels(self) -> list[Submodel]:
        count = self.plan.submodels
        size = -(-len(self.images) // count)
        return [Submodel(f"submodel_{k:04d}", self.images[k * size : (k + 1) * size]) for k in range(count)]

    def _split(self, submodels: list[Submodel]) -> None:
        a = self.args
        self.log(f"Setting max-concurrency to {max(1, a.max_concurrency - 1)} to better handle remote splits")
        self.log(f"Large dataset detected ({self.plan.images} photos) and split set at {a.split}. "
                 "Preparing split merge.")  # fmt: skip
        self.log(f"Dataset has been split into {len(submodels)} submodels. Reconstructing each submodel...")
        self.log(f"LRE: Initializing using cluster node {self.node.host}:{self.node.port}")
        self.log(f"LRE: Node is online and running {self.info.engine} version {self.info.engine_version}")
        self._executor(submodels, RECONSTRUCTION)
        for sub in list(submodels):
            if "opensfm/reconstruction.json" not in sub.files:
                self.log(f"Submodel {sub.name} does not have an aligned reconstruction. This could mean that the "
                         "submodel could not be reconstructed  (are there enough features to reconstruct it?). "
                         "Skipping.", "WARNING")  # fmt: skip
                submodels.remove(sub)
        self._executor(submodels, TOOLCHAIN)

    def _merge(self, submodels: list[Submodel]) -> list[str]:
        """ODMMergeStage: what the submodels left decides what is merged."""
        a, out = self.args, ["odm_report/shots.geojson", "cameras.json"]
        if a.merge in ("all", "pointcloud"):
            if any(_LAZ in s.files for s in submodels):
                out += [_LAZ, "odm_georeferencing/odm_georeferenced_model.bounds.gpkg"]
            else:
                self.log("Could not merge point cloud: no submodel point cloud (skipping)", "WARNING")
        if a.merge in ("all", "orthophoto"):
            pairs = [s for s in submodels if {_CUT, _FEATHERED} <= s.files]
            if pairs:
                self.log(f"Found {len(pairs)} submodels with valid orthophotos and cutlines")
                out += ["odm_orthophoto/odm_orthophoto.tif", "odm_orthophoto/odm_orthophoto.tfw"]
            else:
                self.log("No orthophoto/cutline pairs were found in any of the submodels. No orthophoto will be "
                         "generated.", "WARNING")  # fmt: skip
        if a.merge in ("all", "dem"):
            for dem, wanted in (("dsm", a.dsm), ("dtm", a.dtm)):
                if wanted and any(f"odm_dem/{dem}.tif" in s.files for s in submodels):
                    self.log(f"Merging {dem.upper()}s")
                    out.append(f"odm_dem/{dem}.tif")
        return out

    # ----- LocalRemoteExecutor --------------------------------------------------------------------------------

    def _executor(self, submodels: list[Submodel], kind: dict[str, Any]) -> None:
        work: queue.Queue[Submodel] = queue.Queue()
        for sub in submodels:
            self.log(f"LRE: Adding to queue {sub.name}")
            work.put(sub)
        state = _Shared(len(submodels))
        threads = [threading.Thread(target=self._local_worker, args=(work, state, kind), daemon=True),
                   threading.Thread(target=self._remote_worker, args=(work, state, kind), daemon=True)]  # fmt: skip
        for t in threads:
            t.start()
        while not state.done.wait(self.clock.real_seconds(POLL_S)):
            if self.stop.is_set():
                raise Stopped()
        state.closed = True
        for t in threads + state.monitors:
            t.join()
        if isinstance(state.error, Stopped):
            raise state.error
        self._cleanup_remote_tasks()  # LocalRemoteExecutor.run ends with it, before raising its error
        if state.error is not None:
            raise state.error

    def _local_worker(self, work: queue.Queue[Submodel], state: _Shared, kind: dict[str, Any]) -> None:
        while not state.closed:
            try:
                sub = work.get(timeout=self.clock.real_seconds(POLL_S))
            except queue.Empty:
                continue
            state.local_busy = True
            self.log(f"LRE: About to process {sub.name} locally")
            try:
                self.wait(self.per_submodel_s / 2)
                sub.files |= set(_local_files(kind, self.plan))
                state.finished(self, sub)
            except Stopped:
                state.fail(Stopped())
            finally:
                state.local_busy = False

    def _remote_worker(self, work: queue.Queue[Submodel], state: _Shared, kind: dict[str, Any]) -> None:
        while not state.closed:
            try:
                sub = work.get(timeout=self.clock.real_seconds(POLL_S))
            except queue.Empty:
                continue
            capped = state.max_remote is not None and state.remote_running >= state.max_remote
            if not state.local_busy or capped or sub.wait_until > self.clock.now():
                work.put(sub)  # yield to local processing / wait for a free slot or for the retry time
                self.stop.wait(MIN_POLL_REAL_S)
                continue
            state.remote_running += 1
            self.log(f"LRE: About to process {sub.name} remotely")
            try:
                task = self._send(sub, kind)
            except Exception as exc:
                self._handle_error(sub, exc, work, state)
                continue
            monitor = threading.Thread(target=self._monitor, args=(sub, task, work, state), daemon=True)
            state.monitors.append(monitor)
            monitor.start()

    def _send(self, sub: Submodel, kind: dict[str, Any]) -> Any:
        folder = os.path.join(self.tmp, sub.name)
        os.makedirs(os.path.join(folder, "images"), exist_ok=True)
        paths = []
        for name in sub.images:
            path = os.path.join(folder, "images", name)
            with open(path, "wb") as f:
                f.write(b"\xff\xd8 sandbox image " + name.encode())
            paths.append(path)
        seed = os.path.join(folder, "seed.zip")
        with zipfile.ZipFile(seed, "w") as archive:
            for member in kind["seed"]:
                archive.writestr(member, b"")
        task = self.node.create_task(paths + [seed], submodel_options(self.plan), skip_post_processing=True,
                                     outputs=kind["outputs"])  # fmt: skip
        self.remote_tasks.append(task)
        self.log(f"LRE: Upload of {sub.name} at [100%]")
        status = task.info().status
        if status == TaskStatus.QUEUED:
            raise TaskLimitReached("Task limit reached")
        if status not in (TaskStatus.RUNNING, TaskStatus.COMPLETED):
            raise RuntimeError(f"Could not send task to node, task status is {status}")
        sub.task = task
        return task

    def _monitor(self, sub: Submodel, task: Any, work: queue.Queue[Submodel], state: _Shared) -> None:
        def status(info: Any) -> None:
            if self.stop.is_set() or state.closed:
                raise Stopped()
            if info.status == TaskStatus.QUEUED:
                self.log(f"LRE: {sub.name} ({task.uuid}) turned from RUNNING to QUEUED. Re-adding to back of the "
                         "queue.", "WARNING")  # fmt: skip
                raise TaskLimitReached("Delayed task limit reached")

        try:
            task.wait_for_completion(
                status_callback=status, interval=max(MIN_POLL_REAL_S, self.clock.real_seconds(POLL_S))
            )
            self.log(f"LRE: Downloading assets for {sub.name}")
            folder = os.path.join(self.tmp, sub.name)
            task.download_assets(folder)
            sub.files |= {os.path.relpath(os.path.join(r, n), folder).replace(os.sep, "/")
                          for r, _, names in os.walk(folder) for n in names}  # fmt: skip
            self.log(f"LRE: Downloaded and extracted assets for {sub.name}")
            self._remove(task, sub)
            state.finished(self, sub, remote=True)
        except exceptions.TaskFailedError:
            lines = task.output()
            with open(os.path.join(self.tmp, "error.log"), "w") as f:
                f.write("\n".join(lines) + "\n")
            message = f"({task.uuid}) failed with task output: " + "\n".join(lines[-10:])
            self._handle_error(sub, exceptions.TaskFailedError(message), work, state)
        except Exception as exc:
            self._handle_error(sub, exc, work, state)

    def _handle_error(
        self, sub: Submodel, exc: Exception, work: queue.Queue[Submodel], state: _Shared
    ) -> None:
        state.remote_running -= 1
        if isinstance(exc, Stopped):
            state.fail(exc)
            return
        self.log(f"LRE: {sub.name} failed with: {exc}", "WARNING")
        limit = isinstance(exc, TaskLimitReached)
        if limit and state.max_remote is None:
            state.max_remote = max(1, sum(1 for t in self.remote_tasks if _running_with_output(t)))
            self.log(f"LRE: Node task limit reached. Setting max remote tasks to {state.max_remote}")
        task = sub.task
        if sub.retries < MAX_RETRIES and not isinstance(exc, exceptions.TaskFailedError):
            if not limit:
                sub.retries += 1
            sub.wait_until = self.clock.now() + sub.retries * RETRY_TIMEOUT_S
            if task is not None:
                self._remove(task, sub)
            self.log(f"LRE: Re-queueing {sub.name} (retries: {sub.retries})")
            work.put(sub)
            return
        if task is not None:
            self._remove(task, sub)
        state.fail(exc)

    def _remove(self, task: Any, sub: Submodel) -> None:
        try:
            ok = task.remove()
        except exceptions.OdmError:
            ok = False
        self.log(f"LRE: Cleaning up remote task ({task.uuid})... {'OK' if ok else 'NO'}")
        if task in self.remote_tasks:
            self.remote_tasks.remove(task)
        sub.task = None

    def _cleanup_remote_tasks(self) -> None:
        if not self.remote_tasks:
            self.log("LRE: No remote tasks left to cleanup")
            return
        self.log("LRE: Attempting to cleanup remote tasks", "WARNING")
        for task in list(self.remote_tasks):
            try:
                ok = task.remove()
            except exceptions.OdmError:
                ok = False
            self.log(f"LRE: Removing remote task {task.uuid}... {'OK' if ok else 'NO'}")
            if task in self.remote_tasks:  # a monitor may have removed it meanwhile
                self.remote_tasks.remove(task)


class _Shared:
    def __init__(self, total: int) -> None:
        self.total, self.count = total, 0
        self.local_busy = False
        self.closed = False
        self.max_remote: int | None = None
        self.remote_running = 0
        self.error: Exception | None = None
        self.monitors: list[threading.Thread] = []
        self.done = threading.Event()
        self._lock = threading.Lock()
        if total == 0:
            self.done.set()

    def finished(self, executor: RemoteSplitMerge, sub: Submodel, remote: bool = False) -> None:
        executor.log(f"LRE: {sub.name} finished successfully")
        with self._lock:
            self.count += 1
            if remote:
                self.remote_running -= 1
            if self.count >= self.total:
                self.done.set()

    def fail(self, exc: Exception) -> None:
        with self._lock:
            self.error = self.error or exc
            self.done.set()


def _running_with_output(task: Any) -> bool:
    try:
        info = task.info(with_output=-3)
    except exceptions.OdmError:
        return False
    return info.status == TaskStatus.RUNNING and info.processing_time >= 0 and len(info.output) >= 3


def _local_files(kind: dict[str, Any], plan: OdmRun) -> list[str]:
    """What one pass leaves in a submodel processed by this task itself (a submodel run of the pipeline)."""
    sub_args = odm_products.submodel_args(plan.args)
    if kind is RECONSTRUCTION:
        return odm_products.stage_files("opensfm", sub_args, submodel=True)
    stages = ("odm_georeferencing", "odm_dem", "odm_orthophoto", "odm_report")
    return [f for s in stages for f in odm_products.stage_files(s, sub_args, submodel=True)]


def _ended(plan: OdmRun, code: int, files: tuple[str, ...], error: str | None, duration: float,
           spans: tuple[StageSpan, ...]) -> OdmRun:  # fmt: skip
    return dataclasses.replace(plan, exit_code=code, files=files if code == 0 else (), error=error,
                               duration_s=duration, stages=spans or plan.stages, lines=())  # fmt: skip
