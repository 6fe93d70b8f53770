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
import shutil
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from pyodm import Node, exceptions

from .odm_log import odm_line
from .odm_lre import RECONSTRUCTION, TOOLCHAIN, LocalRemoteExecutor, Stopped, Submodel
from .odm_run import OdmRun, StageSpan

_LAZ = "odm_georeferencing/odm_georeferenced_model.laz"
_CUT, _FEATHERED = "odm_orthophoto/odm_orthophoto_cut.tif", "odm_orthophoto/odm_orthophoto_feathered.tif"


def distributed(plan: OdmRun) -> bool:
    """Whether this run sends its submodels to --sm-cluster (split active, the command line valid)."""
    return plan.args is not None and bool(plan.args.sm_cluster) and plan.submodels > 0 and plan.succeeded


def asks_cluster(plan: OdmRun) -> bool:
    """Whether ODM's config() contacts --sm-cluster: whenever the option is set and the command line parsed."""
    return plan.args is not None and bool(plan.args.sm_cluster)


def cluster_problem(plan: OdmRun) -> str | None:
    """opendm/config.py: ``Node.from_url(sm_cluster).info()``; ODM's error line when the node does not answer."""
    assert plan.args is not None
    try:
        Node.from_url(plan.args.sm_cluster).info()
    except exceptions.NodeConnectionError as exc:
        return f"Cluster node seems to be offline: {exc}"
    return None


def offline(plan: OdmRun) -> OdmRun:
    """The run that ended in config() with exit 1 (sys.exit(1)): no stage ran, nothing written."""
    return _ended(plan, 1, (), "Cluster node seems to be offline", 0.0, ())


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
                LocalRemoteExecutor(self).cleanup_remote_tasks()
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
        problem = cluster_problem(self.plan)
        if problem:  # opendm/config.py: sys.exit(1)
            self.log(problem, "ERROR")
            raise Stopped()
        self.node = Node.from_url(a.sm_cluster)
        self.info = self.node.info()
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
        LocalRemoteExecutor(self).run(submodels, RECONSTRUCTION)
        for sub in list(submodels):
            if "opensfm/reconstruction.json" not in sub.files:
                self.log(f"Submodel {sub.name} does not have an aligned reconstruction. This could mean that the "
                         "submodel could not be reconstructed  (are there enough features to reconstruct it?). "
                         "Skipping.", "WARNING")  # fmt: skip
                submodels.remove(sub)
        LocalRemoteExecutor(self).run(submodels, TOOLCHAIN)

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


def _ended(plan: OdmRun, code: int, files: tuple[str, ...], error: str | None, duration: float,
           spans: tuple[StageSpan, ...]) -> OdmRun:  # fmt: skip
    return dataclasses.replace(plan, exit_code=code, files=files if code == 0 else (), error=error,
                               duration_s=duration, stages=spans or plan.stages, lines=())  # fmt: skip
