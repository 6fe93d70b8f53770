"""ODM's LocalRemoteExecutor (opendm/remote.py), as the simulated odm container runs it: one queue of submodels,
a local worker (this task processes one submodel at a time itself) and a remote worker that waits until the local
one is busy, then sends the next submodel to the node with pyodm and leaves a monitor thread to wait for it,
download its all.zip and remove it. The facts are listed in odm_remote.py; AGPL source read, our own code.
"""

from __future__ import annotations

import os
import queue
import threading
import zipfile
from dataclasses import dataclass, field
from typing import Any

from pyodm import exceptions
from pyodm.types import TaskStatus

from . import odm_products
from .odm_run import OdmRun

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


class LocalRemoteExecutor:
    """One pass (RECONSTRUCTION or TOOLCHAIN) over the submodels; ``o`` is the run (odm_remote.RemoteSplitMerge):
    its log, simulated waits, node, stop event, scratch folder and list of remote tasks."""

    def __init__(self, owner: Any) -> None:
        self.o = owner

    def run(self, submodels: list[Submodel], kind: dict[str, Any]) -> None:
        work: queue.Queue[Submodel] = queue.Queue()
        for sub in submodels:
            self.o.log(f"LRE: Adding to queue {sub.name}")
            work.put(sub)
        state = _Shared(len(submodels))
        threads = [threading.Thread(target=_guarded, args=(self._local_worker, work, state, kind), daemon=True),
                   threading.Thread(target=_guarded, args=(self._remote_worker, work, state, kind), daemon=True)]  # fmt: skip
        for t in threads:
            t.start()
        while not state.done.wait(self.o.clock.real_seconds(POLL_S)):
            if self.o.stop.is_set():
                raise Stopped()
        state.closed = True
        for t in threads + state.monitors:
            t.join()
        if isinstance(state.error, Stopped):
            raise state.error
        self.cleanup_remote_tasks()  # LocalRemoteExecutor.run ends with it, before raising its error
        if state.error is not None:
            raise state.error

    def _local_worker(self, work: queue.Queue[Submodel], state: _Shared, kind: dict[str, Any]) -> None:
        while not state.closed:
            try:
                sub = work.get(timeout=self.o.clock.real_seconds(POLL_S))
            except queue.Empty:
                continue
            state.local_busy = True
            self.o.log(f"LRE: About to process {sub.name} locally")
            try:
                self.o.wait(self.o.per_submodel_s / 2)
                sub.files |= set(_local_files(kind, self.o.plan))
                state.finished(self.o, sub)
            except Stopped:
                state.fail(Stopped())
            finally:
                state.local_busy = False

    def _remote_worker(self, work: queue.Queue[Submodel], state: _Shared, kind: dict[str, Any]) -> None:
        while not state.closed:
            try:
                sub = work.get(timeout=self.o.clock.real_seconds(POLL_S))
            except queue.Empty:
                continue
            capped = state.max_remote is not None and state.remote_running >= state.max_remote
            if not state.local_busy or capped or sub.wait_until > self.o.clock.now():
                work.put(sub)  # yield to local processing / wait for a free slot or for the retry time
                self.o.stop.wait(MIN_POLL_REAL_S)
                continue
            state.remote_running += 1
            self.o.log(f"LRE: About to process {sub.name} remotely")
            try:
                task = self._send(sub, kind)
            except Exception as exc:
                self._handle_error(sub, exc, work, state)
                continue
            monitor = threading.Thread(target=self._monitor, args=(sub, task, work, state), daemon=True)
            state.monitors.append(monitor)
            monitor.start()

    def _send(self, sub: Submodel, kind: dict[str, Any]) -> Any:
        folder = os.path.join(self.o.tmp, sub.name)
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
        task = self.o.node.create_task(paths + [seed], submodel_options(self.o.plan), skip_post_processing=True,
                                     outputs=kind["outputs"])  # fmt: skip
        self.o.remote_tasks.append(task)
        self.o.log(f"LRE: Upload of {sub.name} at [100%]")
        status = task.info().status
        if status == TaskStatus.QUEUED:
            raise TaskLimitReached("Task limit reached")
        if status not in (TaskStatus.RUNNING, TaskStatus.COMPLETED):
            raise RuntimeError(f"Could not send task to node, task status is {status}")
        sub.task = task
        return task

    def _monitor(self, sub: Submodel, task: Any, work: queue.Queue[Submodel], state: _Shared) -> None:
        def status(info: Any) -> None:
            if self.o.stop.is_set() or state.closed:
                raise Stopped()
            if info.status == TaskStatus.QUEUED:
                self.o.log(f"LRE: {sub.name} ({task.uuid}) turned from RUNNING to QUEUED. Re-adding to back of the "
                         "queue.", "WARNING")  # fmt: skip
                raise TaskLimitReached("Delayed task limit reached")

        try:
            task.wait_for_completion(
                status_callback=status, interval=max(MIN_POLL_REAL_S, self.o.clock.real_seconds(POLL_S))
            )
            self.o.log(f"LRE: Downloading assets for {sub.name}")
            folder = os.path.join(self.o.tmp, sub.name)
            task.download_assets(folder)
            sub.files |= {os.path.relpath(os.path.join(r, n), folder).replace(os.sep, "/")
                          for r, _, names in os.walk(folder) for n in names}  # fmt: skip
            self.o.log(f"LRE: Downloaded and extracted assets for {sub.name}")
            self._remove(task, sub)
            state.finished(self.o, sub, remote=True)
        except exceptions.TaskFailedError:
            lines = task.output()
            with open(os.path.join(self.o.tmp, "error.log"), "w") as f:
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
        self.o.log(f"LRE: {sub.name} failed with: {exc}", "WARNING")
        limit = isinstance(exc, TaskLimitReached)
        if limit and state.max_remote is None:
            state.max_remote = max(1, sum(1 for t in self.o.remote_tasks if _running_with_output(t)))
            self.o.log(f"LRE: Node task limit reached. Setting max remote tasks to {state.max_remote}")
        task = sub.task
        if sub.retries < MAX_RETRIES and not isinstance(exc, exceptions.TaskFailedError):
            if not limit:
                sub.retries += 1
            sub.wait_until = self.o.clock.now() + sub.retries * RETRY_TIMEOUT_S
            if task is not None:
                self._remove(task, sub)
            self.o.log(f"LRE: Re-queueing {sub.name} (retries: {sub.retries})")
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
        self.o.log(f"LRE: Cleaning up remote task ({task.uuid})... {'OK' if ok else 'NO'}")
        if task in self.o.remote_tasks:
            self.o.remote_tasks.remove(task)
        sub.task = None

    def cleanup_remote_tasks(self) -> None:
        if not self.o.remote_tasks:
            self.o.log("LRE: No remote tasks left to cleanup")
            return
        self.o.log("LRE: Attempting to cleanup remote tasks", "WARNING")
        for task in list(self.o.remote_tasks):
            try:
                ok = task.remove()
            except exceptions.OdmError:
                ok = False
            self.o.log(f"LRE: Removing remote task {task.uuid}... {'OK' if ok else 'NO'}")
            if task in self.o.remote_tasks:  # a monitor may have removed it meanwhile
                self.o.remote_tasks.remove(task)


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

    def finished(self, executor: Any, sub: Submodel, remote: bool = False) -> None:
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


def _guarded(worker: Any, work: Any, state: _Shared, kind: dict[str, Any]) -> None:
    """A worker that breaks fails the pass (ODM's run would raise) instead of leaving it waiting forever."""
    try:
        worker(work, state, kind)
    except Exception as exc:
        state.fail(exc)


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
