"""The ODM command-line options a job may set: ODM 3.6.0's options, option for option.

Names, kinds and choices follow ODM 3.6.0 ``opendm/config.py`` (tag v3.6.0, commit 7127aa27), the argparse parser
ODM builds: a flag is ODM's StoreTrue (no value on the command line), ``int``/``float`` are argparse's types,
``choice`` lists are ODM's own in ODM's order, ``json`` is ODM's path-or-JSON type given inline (a path would
point outside the staged project). ODM checks no numeric range, so neither does this table, except where ODM or
physics has one (a resolution is above 0, a run has at least one process, ODM clamps mesh-octree-depth to
1..14). A unit test derives the table's completeness from the facts file the sandbox's ODM parses with
(sandbox/aws/odm_3.6.0_options.json), so an ODM bump is one diff there.

Options are passed to the ``odm`` container as separate argv elements (never through a shell), and every value
is checked here first, so an option cannot smuggle in a second flag or redirect ODM's input or output. Options
the operator controls itself, or that read files, are refused with the reason; deprecated ones (ODM ignores
them with a warning) are refused saying so; ODM's mutually exclusive options are refused together.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Literal

ODM_VERSION = "3.6.0"
ODM_COMMIT = "7127aa278e1ef0c3cc5ee2f435140e5eaa20b6fd"  # tag v3.6.0 of OpenDroneMap/ODM

# ODM's stage names, in run order (config.py processopts): the values --end-with, --rerun and --rerun-from accept.
STAGE_NAMES = (
    "dataset",
    "split",
    "merge",
    "opensfm",
    "openmvs",
    "odm_filterpoints",
    "odm_meshing",
    "mvs_texturing",
    "odm_georeferencing",
    "odm_dem",
    "odm_orthophoto",
    "odm_report",
    "odm_postprocess",
)
QUALITY = ("ultra", "high", "medium", "low", "lowest")

Kind = Literal["flag", "int", "float", "choice", "string", "json"]


@dataclass(frozen=True)
class OdmOption:
    """One ODM option: its kind, allowed values or physical bounds, and what it does (for messages and docs)."""

    kind: Kind
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = field(default_factory=tuple)
    pattern: str | None = None
    above: float | None = None  # exclusive lower bound
    why_bounded: str = ""


def _flag(help_: str) -> OdmOption:
    return OdmOption("flag", help_)


def _int(help_: str, minimum: float | None = None, maximum: float | None = None, why: str = "") -> OdmOption:
    return OdmOption("int", help_, minimum, maximum, why_bounded=why)


def _float(help_: str, above: float | None = None, why: str = "") -> OdmOption:
    return OdmOption("float", help_, above=above, why_bounded=why)


def _choice(help_: str, *choices: str) -> OdmOption:
    return OdmOption("choice", help_, choices=choices)


def _json(help_: str) -> OdmOption:
    return OdmOption("json", help_)


_RESOLUTION = "a resolution is a positive size"

OPTIONS: dict[str, OdmOption] = {
    # Products
    "dsm": _flag("Build a digital surface model (odm_dem/dsm.tif)."),
    "dtm": _flag("Build a digital terrain model (odm_dem/dtm.tif); turns on pc-classify."),
    "fast-orthophoto": _flag("Orthophoto from the sparse reconstruction; no dense cloud, no textured model."),
    "cog": _flag("Write Cloud Optimized GeoTIFFs."),
    "skip-report": _flag("Do not build the PDF report."),
    "skip-3dmodel": _flag("Do not build the full 3D textured model (the 2.5D one is still built)."),
    "skip-orthophoto": _flag("Do not build the orthophoto."),
    "optimize-disk-space": _flag("Delete heavy intermediate files early (no restart from a middle stage)."),
    "orthophoto-resolution": _float(
        "Orthophoto resolution in cm/pixel (capped by the GSD estimate).", 0, _RESOLUTION
    ),
    "orthophoto-no-tiled": _flag("Write a striped rather than tiled GeoTIFF."),
    "orthophoto-compression": _choice(
        "GeoTIFF compression of the orthophoto.", "JPEG", "LZW", "PACKBITS", "DEFLATE", "LZMA", "NONE"
    ),
    "orthophoto-cutline": _flag("Write a polygon (cutline.gpkg) for stitching overlapping orthophotos."),
    "orthophoto-png": _flag("Also write the orthophoto as PNG."),
    "orthophoto-kmz": _flag("Also write the orthophoto as a Google Earth KMZ."),
    "build-overviews": _flag("Build overviews in the orthophoto."),
    "tiles": _flag("Build static map tiles (orthophoto_tiles/, dsm_tiles/, dtm_tiles/)."),
    "3d-tiles": _flag("Build OGC 3D Tiles (3d_tiles/)."),
    "gltf": _flag("Also write the textured model as glTF (.glb)."),
    "crop": _float("Crop outputs this many metres inside the dataset's boundary (0 disables)."),
    "boundary": _json("A GeoJSON polygon (inline JSON) that limits the reconstruction."),
    "auto-boundary": _flag("Compute a boundary from the camera positions and use it to crop."),
    "auto-boundary-distance": _float(
        "Distance in metres between the cameras and the auto boundary (0 = auto)."
    ),
    # Feature extraction, matching and structure from motion
    "feature-quality": _choice("Image scale for feature extraction.", *QUALITY),
    "feature-type": _choice("Keypoint detector and descriptor.", "akaze", "dspsift", "hahog", "orb", "sift"),
    "min-num-features": _int("Minimum number of features to extract per image."),
    "matcher-neighbors": _int(
        "Match each image with this many nearest images by GPS (0 = by triangulation)."
    ),
    "matcher-order": _int(
        "Match each image with the next N by file name order (non-georeferenced; 0 = off)."
    ),
    "matcher-type": _choice("Matcher algorithm.", "bow", "bruteforce", "flann"),
    "sfm-algorithm": _choice("Structure-from-motion algorithm.", "incremental", "triangulation", "planar"),
    "sfm-no-partial": _flag("Do not keep partial reconstructions when not every image could be added."),
    "camera-lens": _choice(
        "Camera projection model.",
        "auto",
        "perspective",
        "brown",
        "fisheye",
        "fisheye_opencv",
        "spherical",
        "equirectangular",
        "dual",
    ),
    "cameras": _json("Camera parameters from another dataset's cameras.json (inline JSON)."),
    "use-fixed-camera-params": _flag("Do not optimise camera parameters."),
    "use-hybrid-bundle-adjustment": _flag("Local bundle adjustment per image and a global one every 100."),
    "use-exif": _flag("Use EXIF GPS even when a GCP file is present."),
    "force-gps": _flag("Use the images' GPS for the reconstruction even with GCPs."),
    "gps-accuracy": _float("GPS accuracy in metres, used as a bundle adjustment prior."),
    "gps-z-offset": _float("Metres added to the images' GPS altitude (may be negative)."),
    "ignore-gsd": _flag("Do not cap resolutions by the ground sampling distance estimate."),
    "rolling-shutter": _flag("Correct rolling shutter distortion."),
    "rolling-shutter-readout": _float(
        "Sensor readout time in milliseconds (0 = from ODM's camera database)."
    ),
    "sky-removal": _flag("Mask the sky with AI (downloads a model at run time)."),
    "bg-removal": _flag("Mask the background with AI (downloads a model at run time)."),
    "radiometric-calibration": _choice(
        "Radiometric calibration of multispectral and thermal images.", "none", "camera", "camera+sun"
    ),
    "skip-band-alignment": _flag("Do not align the bands of multispectral images."),
    "primary-band": OdmOption(
        "string",
        "Band used for reconstruction of multispectral datasets (auto or a band name).",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,31}$",  # never a leading dash: ODM would read the value as a flag
    ),
    "no-gpu": _flag("Do not use the GPU even when one is present."),
    "video-limit": _int("Maximum frames extracted from each video (0 = no limit)."),
    "video-resolution": _int("Maximum resolution in pixels of the frames extracted from videos."),
    # Point cloud, mesh and DEM
    "pc-quality": _choice("Point cloud density.", *QUALITY),
    "pc-classify": _flag("Classify the point cloud into ground and non-ground (SMRF)."),
    "pc-rectify": _flag("Re-classify wrong ground points and fill gaps; turns on pc-classify."),
    "pc-filter": _float("Statistical outlier filter in standard deviations (0 disables)."),
    "pc-sample": _float("Point cloud sampling radius in metres (0 disables)."),
    "pc-csv": _flag("Also export the georeferenced point cloud as CSV (XYZ)."),
    "pc-las": _flag("Also export the georeferenced point cloud as LAS."),
    "pc-ept": _flag("Also export the point cloud as Entwine Point Tiles (entwine_pointcloud/)."),
    "pc-copc": _flag("Also export the point cloud as Cloud Optimized Point Cloud."),
    "pc-skip-geometric": _flag("Skip geometric consistency checks (faster, noisier)."),
    "smrf-scalar": _float("SMRF ground filter: elevation scalar."),
    "smrf-slope": _float("SMRF ground filter: slope (rise over run)."),
    "smrf-threshold": _float("SMRF ground filter: elevation threshold in metres."),
    "smrf-window": _float("SMRF ground filter: window radius in metres."),
    "mesh-size": _int("Maximum vertex count of the mesh."),
    "mesh-octree-depth": _int(
        "Octree depth of the mesh.", 1, 14, "ODM clamps it to 1..14 in stages/odm_app.py"
    ),
    "use-3dmesh": _flag("Use the full 3D mesh for the orthophoto instead of the 2.5D mesh."),
    "texturing-single-material": _flag("Write the textured model with one material and one texture."),
    "texturing-keep-unseen-faces": _flag("Keep faces no camera sees."),
    "texturing-skip-global-seam-leveling": _flag("Skip global seam leveling (for radiometric data)."),
    "dem-resolution": _float("DSM/DTM resolution in cm/pixel (capped by the GSD estimate).", 0, _RESOLUTION),
    "dem-gapfill-steps": _int("Gap-fill steps for DEMs (0 disables)."),
    "dem-decimation": _int("Decimate the points before DEM generation by this factor."),
    "dem-euclidean-map": _flag("Write a euclidean raster map next to each DEM."),
    # Large datasets (split-merge on one task)
    "split": _int("Average number of images per submodel; split-merge above that many images."),
    "split-overlap": _float("Radius in metres of the overlap between submodels."),
    "sm-no-align": _flag("Do not align the submodels (good GPS)."),
    "merge": _choice("What to merge after a split.", "all", "pointcloud", "orthophoto", "dem"),
    "merge-skip-blending": _flag("Skip blending when merging orthophotos."),
    # Run control
    "max-concurrency": _int(
        "Maximum processes ODM runs at once (about 1 GB peak each); default: the task's vCPUs.",
        1,
        why="a run needs at least one process",
    ),
    "end-with": _choice("Stop after this stage.", *STAGE_NAMES),
    "rerun": _choice(
        "Run up to this stage and stop (a fresh work volume has no earlier results).", *STAGE_NAMES
    ),
    "rerun-from": _choice(
        "Rerun from this stage (a fresh work volume has no earlier results: the whole pipeline runs).",
        *STAGE_NAMES,
    ),
}

# Options the operator controls itself, or that would read files outside the staged project.
RESERVED: dict[str, str] = {
    "project-path": "the operator stages the project at /data/project itself",
    "name": "the operator names the project itself",
    "copy-to": "outputs are copied to spec.output.s3Uri by the operator; set that instead",
    "sm-cluster": "jobs run on the ECS capacity in spec.capacity, not on an external ClusterODM",
    "gcp": "it reads a file: put gcp_list.txt in the input prefix; ODM finds it in the project",
    "geo": "it reads a file: put geo.txt in the input prefix; ODM finds it in the project",
    "align": "it reads a file: put align.laz, align.las or align.tif in the input prefix; ODM finds it",
    "split-image-groups": "it reads a file: put image_groups.txt in the input prefix; ODM finds it",
    "rerun-all": "every job runs in a fresh work volume, so there is nothing to delete",
    "version": "it prints ODM's version and exits without processing",
}

# ODM 3.6.0 config.py DEPRECATED: ODM warns and ignores them.
DEPRECATED = (
    "verbose",
    "debug",
    "time",
    "resize-to",
    "depthmap-resolution",
    "pc-geometric",
    "texturing-data-term",
    "texturing-outlier-removal-type",
    "texturing-tone-mapping",
    "texturing-skip-local-seam-leveling",
)

# ODM's argparse mutually exclusive group (config.py: --rerun, --rerun-all, --rerun-from); ODM exits 2.
EXCLUSIVE = (("rerun", "rerun-all", "rerun-from"),)


@dataclass(frozen=True)
class OptionError:
    """One bad option: its name and what is wrong with it."""

    name: str
    message: str


def check_options(options: object) -> list[OptionError]:
    """Every problem with an options map, all at once (an empty list means valid)."""
    if not isinstance(options, dict):
        return [OptionError("", "must be a map of ODM option names to values, e.g. {dsm: true}")]
    errors: list[OptionError] = []
    for name, value in options.items():
        problem = _check_one(str(name), value)
        if problem:
            errors.append(OptionError(str(name), problem))
    for group in EXCLUSIVE:
        given = [name for name in group if name in options and options[name] not in (None, False)]
        for later in given[1:]:
            errors.append(
                OptionError(
                    later,
                    f"{later!r} cannot be combined with {given[0]!r}: ODM refuses them together "
                    f"(exit 2, 'not allowed with'); keep one of {', '.join(repr(n) for n in group)}",
                )
            )
    return errors


def _check_one(name: str, value: object) -> str | None:
    bare = name.removeprefix("--")
    if bare != name:
        return f"write the option without dashes: {bare!r}"
    if name in RESERVED:
        return f"{name!r} is set by the operator and cannot be given: {RESERVED[name]}"
    if name in DEPRECATED:
        return f"{name!r} is deprecated: ODM {ODM_VERSION} no longer has it and ignores it; remove it"
    option = OPTIONS.get(name)
    if option is None:
        close = difflib.get_close_matches(name, list(OPTIONS), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown ODM option {name!r}{hint} (ODM {ODM_VERSION} has no such option)"
    return _check_value(name, option, value)


def _check_value(name: str, option: OdmOption, value: object) -> str | None:
    if option.kind == "flag":
        if not isinstance(value, bool):
            return f"{name!r} is a flag: use true or false, not {value!r}"
        return None
    if option.kind in ("int", "float"):
        return _check_number(name, option, value)
    if option.kind == "choice":
        if not isinstance(value, str) or value not in option.choices:
            allowed = ", ".join(option.choices)
            return f"{name!r} must be one of: {allowed}; got {value!r}"
        return None
    if option.kind == "json":
        return _check_json(name, value)
    if not isinstance(value, str) or not option.pattern or not re.fullmatch(option.pattern, value):
        return f"{name!r} takes a short name of letters, digits, '_' or '-' (not first), got {value!r}"
    return None


def _check_number(name: str, option: OdmOption, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name!r} takes {'an integer' if option.kind == 'int' else 'a number'}, not {value!r}"
    if isinstance(value, float) and not math.isfinite(value):  # NaN passes every bound check below
        return f"{name!r} takes a finite number, not {value!r}"
    if option.kind == "int" and isinstance(value, float) and not value.is_integer():
        return f"{name!r} takes an integer (ODM parses it with int()), not {value!r}"
    why = f" ({option.why_bounded})" if option.why_bounded else ""
    if option.above is not None and value <= option.above:
        return f"{name!r} must be > {_num(option.above)}{why}, got {value!r}"
    if option.minimum is not None and value < option.minimum:
        return f"{name!r} must be >= {_num(option.minimum)}{why}, got {value!r}"
    if option.maximum is not None and value > option.maximum:
        return f"{name!r} must be <= {_num(option.maximum)}{why}, got {value!r}"
    return None


def _check_json(name: str, value: object) -> str | None:
    """ODM's path_or_json_string: here inline JSON only (an object or a list, or a string holding one)."""
    if isinstance(value, str):
        if not value.startswith(("{", "[")):
            return f"{name!r} takes inline JSON (an object or a list); a file path would point outside the project"
        try:
            value = json.loads(value)
        except ValueError:
            return f"{name!r} is not valid JSON"
    if not isinstance(value, dict | list):
        return f"{name!r} takes inline JSON (an object or a list), not {value!r}"
    return None


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def to_args(options: dict[str, object]) -> list[str]:
    """ODM argv for validated options, in a stable (sorted) order; false flags are omitted."""
    args: list[str] = []
    for name in sorted(options):
        value = options[name]
        option = OPTIONS[name]
        if option.kind == "flag":
            if value:
                args.append(f"--{name}")
            continue
        if option.kind == "int":
            value = int(value)  # type: ignore[arg-type]
        elif option.kind == "json" and not isinstance(value, str):
            value = json.dumps(value, separators=(",", ":"), sort_keys=True)
        args.extend([f"--{name}", str(value)])
    return args


def flags_in(args: list[str]) -> set[str]:
    """The option names present in an ODM argv (the inverse view the sandbox and tests use)."""
    return {a[2:] for a in args if a.startswith("--")}
