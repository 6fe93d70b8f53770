"""The files the simulated ODM writes, stage by stage, and what the simulated stage-out does with them.

From ODM 3.6.0's source (paths: opendm/types.py ODM_Tree; conditions: the stages):
- dataset writes images.json; opensfm writes cameras.json.
- mvs_texturing writes odm_texturing/ (the 3D model) unless skip-3dmodel is in effect, and odm_texturing_25d/
  (not a result: never uploaded) unless use-3dmesh; gltf adds a .glb next to the model it textured.
- odm_georeferencing writes the .laz, and with pc-las/pc-csv/pc-copc/pc-ept the .las/.csv/.copc.laz/Entwine
  outputs (opendm/point_cloud.py post_point_cloud_steps).
- odm_dem writes dsm.tif with dsm (or with dtm and dem-euclidean-map), dtm.tif with dtm, euclidean maps with
  dem-euclidean-map, and dsm_tiles/dtm_tiles with tiles.
- odm_orthophoto writes the orthophoto unless skip-orthophoto (+png, kmz, cutline, tiles).
- odm_report writes report.pdf and stats unless skip-report; odm_postprocess writes 3d_tiles with 3d-tiles.
- In a split run the main run has only dataset, split, merge and odm_postprocess: merge writes the merged point
  cloud (merge all/pointcloud), orthophoto (all/orthophoto), DEMs (all/dem), shots.geojson and cameras.json.
- Submodels run with skip-3dmodel, skip-report, orthophoto-cutline, dem-euclidean-map and without split,
  pc-las/csv/ept, tiles, cog (opendm/osfm.py get_submodel_argv).

Stage-out is simulated from the operator's own script (the stage-out container's command): the ``--include``
and ``--exclude`` filters of its ``aws s3 cp`` decide what is uploaded, with the AWS CLI's rules (patterns
match the path relative to the source folder, ``*`` crosses ``/``, the last matching filter wins). When the
script builds all.zip and ODM succeeded, the archive holds NodeODM's paths (libs/Task.js allPaths) relative to
the project folder: a real zip file, so pyodm can download and unpack it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import io
import shlex
import zipfile
from typing import Any

# NodeODM libs/Task.js allPaths (project-relative); task_output.txt is NodeODM's own console capture.
NODEODM_ALL_ZIP = (
    "odm_orthophoto/odm_orthophoto.tif", "odm_orthophoto/odm_orthophoto.tfw", "odm_orthophoto/odm_orthophoto.png",
    "odm_orthophoto/odm_orthophoto.wld", "odm_orthophoto/odm_orthophoto.mbtiles",
    "odm_orthophoto/odm_orthophoto.kmz", "odm_orthophoto/odm_orthophoto_extent.dxf", "odm_orthophoto/cutline.gpkg",
    "odm_georeferencing", "odm_texturing", "odm_dem/dsm.tif", "odm_dem/dtm.tif", "dsm_tiles", "dtm_tiles",
    "odm_dem/dsm.euclideand.tif", "odm_dem/dtm.euclideand.tif", "orthophoto_tiles", "potree_pointcloud",
    "entwine_pointcloud", "3d_tiles", "images.json", "cameras.json", "task_output.txt", "log.json", "odm_report",
)  # fmt: skip
ALL_ZIP = "all.zip"
# opendm/remote.py: the touch file of a split-merge submodel's reconstruction pass (in its seed.zip).
STOP_AT_RECONSTRUCTION = "opensfm/split_merge_stop_at_reconstruction.txt"
PRODUCT_BODY = b"odm-operator sandbox product\n"
_GEO = "odm_georeferencing/odm_georeferenced_model"


def _tiles(folder: str) -> list[str]:
    return [f"{folder}/tilemapresource.xml", f"{folder}/18/0/0.png"]


def _point_cloud_steps(args: Any) -> list[str]:
    files = [f"{_GEO}.laz", "odm_georeferencing/odm_georeferenced_model.bounds.gpkg"]
    if args.pc_csv:
        files.append(f"{_GEO}.csv")
    if args.pc_las:
        files.append(f"{_GEO}.las")
    if args.pc_ept:
        files += ["entwine_pointcloud/ept.json", "entwine_pointcloud/ept-data/0-0-0-0.laz"]
    if args.pc_copc:
        files.append(f"{_GEO}.copc.laz")
    return files


def _orthophoto(args: Any, submodel: bool = False) -> list[str]:
    files = ["odm_orthophoto/odm_orthophoto.tif", "odm_orthophoto/odm_orthophoto.tfw",
             "odm_orthophoto/odm_orthophoto_extent.dxf"]  # fmt: skip
    if args.orthophoto_png:
        files.append("odm_orthophoto/odm_orthophoto.png")
    if args.orthophoto_kmz:
        files.append("odm_orthophoto/odm_orthophoto.kmz")
    if args.orthophoto_cutline:
        files.append("odm_orthophoto/cutline.gpkg")
        if submodel:  # stages/odm_orthophoto.py: the mask raster and the feathered copy, submodel runs only
            files += ["odm_orthophoto/odm_orthophoto_cut.tif", "odm_orthophoto/odm_orthophoto_feathered.tif"]
    if args.tiles:
        files += _tiles("orthophoto_tiles")
    return files


def _dems(args: Any) -> list[str]:
    products = (["dsm"] if args.dsm or (args.dtm and args.dem_euclidean_map) else []) + (
        ["dtm"] if args.dtm else []
    )
    files = []
    for product in products:
        files.append(f"odm_dem/{product}.tif")
        if args.dem_euclidean_map:
            files.append(f"odm_dem/{product}.euclideand.tif")
        if args.tiles:
            files += _tiles(f"{product}_tiles")
    return files


def stage_files(stage: str, args: Any, submodel: bool = False) -> list[str]:
    """What ``stage`` writes in an unsplit run (a submodel is one too; ``submodel``: opendm/osfm.py is_submodel)."""
    if stage == "dataset":
        return ["images.json", "img_list.txt"]
    if stage == "opensfm":  # OpenSfM's own files too: a split-merge pass asks for them (opendm/remote.py)
        return ["cameras.json", "opensfm/reconstruction.json", "opensfm/tracks.csv",
                "opensfm/features/image.features.npz", "opensfm/matches/image_matches.pkl.gz"]  # fmt: skip
    if stage == "mvs_texturing":
        files = []
        if not args.skip_3dmodel:
            files += ["odm_texturing/odm_textured_model_geo.obj", "odm_texturing/odm_textured_model_geo.mtl"]
            if args.gltf:
                files.append("odm_texturing/odm_textured_model_geo.glb")
        if not args.use_3dmesh:
            files.append("odm_texturing_25d/odm_textured_model_geo.obj")
            if args.gltf and args.skip_3dmodel:
                files.append("odm_texturing_25d/odm_textured_model_geo.glb")
        return files
    if stage == "odm_georeferencing":
        return _point_cloud_steps(args)
    if stage == "odm_dem":
        return _dems(args)
    if stage == "odm_orthophoto":
        return [] if args.skip_orthophoto else _orthophoto(args, submodel)
    if stage == "odm_report":
        return (
            []
            if args.skip_report
            else ["odm_report/report.pdf", "odm_report/stats.json", "odm_report/shots.geojson"]
        )
    if stage == "odm_postprocess":
        return (
            ["3d_tiles/model/tileset.json", "3d_tiles/pointcloud/tileset.json"]
            if args.values["3d_tiles"]
            else []
        )
    return []


def split_files(stage: str, args: Any) -> list[str]:
    """What the main run of a split dataset writes in merge and odm_postprocess."""
    if stage == "odm_postprocess":
        return ["3d_tiles/pointcloud/tileset.json"] if args.values["3d_tiles"] else []
    files = ["odm_report/shots.geojson", "cameras.json"]
    if args.merge in ("all", "pointcloud"):
        files += _point_cloud_steps(args)
    if args.merge in ("all", "orthophoto"):
        files += _orthophoto(args)
    if args.merge in ("all", "dem"):
        files += [f"odm_dem/{p}.tif" for p in ("dsm", "dtm") if args.values[p]]
        files += [f for p in ("dsm", "dtm") if args.values[p] and args.tiles for f in _tiles(f"{p}_tiles")]
    return files


def submodel_args(args: Any) -> Any:
    """opendm/osfm.py get_submodel_argv: what a submodel runs with."""
    values = dict(args.values)
    values.update(orthophoto_cutline=True, dem_euclidean_map=True, skip_3dmodel=True, skip_report=True)
    values.update(
        pc_csv=False, pc_las=False, pc_ept=False, tiles=False, cog=False, end_with="odm_postprocess"
    )
    values.update(rerun=None, rerun_from=None, rerun_all=False, sm_cluster=None)
    if values["use_3dmesh"]:
        values["skip_3dmodel"] = False
    return dataclasses.replace(args, values=values)


def _filters(script: str) -> list[tuple[str, str]]:
    """The (--include | --exclude, pattern) filters of the script's ``aws s3 cp`` of the project folder."""
    joined = script.replace("\\\n", " ")
    for line in joined.splitlines():
        tokens = shlex.split(line, comments=True) if "aws s3 cp" in line and "--recursive" in line else []
        if tokens:
            return [(t, tokens[i + 1]) for i, t in enumerate(tokens[:-1]) if t in ("--include", "--exclude")]
    return []


def uploaded(script: str, files: list[str]) -> list[str]:
    """The files the stage-out script's ``aws s3 cp --recursive`` would upload, in their order."""
    filters = _filters(script)
    out = []
    for path in files:
        keep = True  # the AWS CLI includes everything unless a filter says otherwise
        for kind, pattern in filters:
            if fnmatch.fnmatchcase(path, pattern):
                keep = kind == "--include"
        if keep:
            out.append(path)
    return out


def all_zip(files: dict[str, bytes], paths: tuple[str, ...] = NODEODM_ALL_ZIP) -> bytes:
    """NodeODM's all.zip of ``files`` (project-relative path -> body): those under ``paths`` (allPaths, or the
    task's ``outputs``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            if any(path == p or path.startswith(p + "/") for p in paths):
                archive.writestr(path, files[path])
    return buffer.getvalue()


# The variable through which the operator's stage-out script takes a task's own all.zip list (NodeODM outputs).
ARCHIVE_PATHS_VARIABLE = "ODM_ARCHIVE_PATHS"


def stage_out_files(
    script: str, project: dict[str, bytes], succeeded: bool, archive_paths: str | None = None
) -> dict[str, bytes]:
    """Output-prefix-relative key -> body, as the stage-out container would leave them. ``archive_paths``: the
    container's ODM_ARCHIVE_PATHS, used only when the script reads that variable."""
    out = {path: project[path] for path in uploaded(script, list(project))}
    if succeeded and ALL_ZIP in script:
        reads_variable = "${" + ARCHIVE_PATHS_VARIABLE in script
        paths = tuple(archive_paths.split()) if archive_paths and reads_variable else NODEODM_ALL_ZIP
        out[ALL_ZIP] = all_zip(project, paths)
    return out
