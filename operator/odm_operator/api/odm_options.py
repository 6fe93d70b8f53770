"""The ODM command-line options a job may set, with their types and allowed values.

Names and types follow ODM 3.6 ``opendm/config.py`` (reference: ../shared/reference/ecs-odm-facts.md section 9).
Options are passed to the ``odm`` container as separate argv elements (never through a shell), and every value is
checked here first, so an option cannot smuggle in a second flag or redirect ODM's input or output. Options that
the operator controls itself are refused with the reason.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

# ODM's stage names, in run order: the values --end-with, --rerun and --rerun-from accept.
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

Kind = Literal["flag", "int", "float", "choice", "string"]


@dataclass(frozen=True)
class OdmOption:
    """One ODM option: its type, bounds or allowed values, and what it does (for messages and docs)."""

    kind: Kind
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = field(default_factory=tuple)
    pattern: str | None = None


def _flag(help_: str) -> OdmOption:
    return OdmOption("flag", help_)


def _int(help_: str, minimum: float | None = None, maximum: float | None = None) -> OdmOption:
    return OdmOption("int", help_, minimum, maximum)


def _float(help_: str, minimum: float | None = None, maximum: float | None = None) -> OdmOption:
    return OdmOption("float", help_, minimum, maximum)


def _choice(help_: str, *choices: str) -> OdmOption:
    return OdmOption("choice", help_, choices=choices)


OPTIONS: dict[str, OdmOption] = {
    # Products
    "dsm": _flag("Build a digital surface model (odm_dem/dsm.tif)."),
    "dtm": _flag("Build a digital terrain model (odm_dem/dtm.tif)."),
    "fast-orthophoto": _flag("Skip dense reconstruction and 3D model; orthophoto from the sparse cloud."),
    "cog": _flag("Write Cloud Optimized GeoTIFFs."),
    "skip-report": _flag("Do not build the PDF report."),
    "skip-3dmodel": _flag("Do not build the full 3D model (textured mesh)."),
    "skip-orthophoto": _flag("Do not build the orthophoto."),
    "optimize-disk-space": _flag("Delete intermediate files as soon as they are no longer needed."),
    "orthophoto-resolution": _float(
        "Orthophoto resolution in cm/pixel (capped by the GSD estimate).", 0.01, 10000
    ),
    "dem-resolution": _float("DSM/DTM resolution in cm/pixel (capped by the GSD estimate).", 0.01, 10000),
    "orthophoto-compression": _choice(
        "GeoTIFF compression of the orthophoto.", "JPEG", "LZW", "PACKBITS", "DEFLATE", "LZMA", "NONE"
    ),
    "orthophoto-cutline": _flag("Generate a polygon around the cropped orthophoto."),
    "orthophoto-png": _flag("Also write the orthophoto as PNG."),
    "orthophoto-kmz": _flag("Also write the orthophoto as a Google Earth KMZ."),
    "build-overviews": _flag("Build overviews in the orthophoto."),
    "tiles": _flag("Build static map tiles for orthophotos and DEMs."),
    "3d-tiles": _flag("Build OGC 3D Tiles."),
    "crop": _float("Crop outputs by this many metres inside the dataset boundary (0 disables).", 0, 10000),
    "auto-boundary": _flag("Compute a boundary from the camera positions and use it to crop."),
    # Feature extraction and matching
    "feature-quality": _choice("Image scale for feature extraction.", *QUALITY),
    "feature-type": _choice("Keypoint detector and descriptor.", "akaze", "dspsift", "hahog", "orb", "sift"),
    "min-num-features": _int("Minimum number of features to extract per image.", 1, 1_000_000),
    "matcher-neighbors": _int("Match only with this many nearest images by GPS (0 = automatic).", 0, 10_000),
    "matcher-type": _choice("Matcher algorithm.", "bow", "bruteforce", "flann"),
    "sfm-algorithm": _choice("Structure-from-motion algorithm.", "incremental", "triangulation", "planar"),
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
    "use-fixed-camera-params": _flag("Do not optimise camera parameters."),
    "use-hybrid-bundle-adjustment": _flag(
        "Run local bundle adjustment per image and global every 100 images."
    ),
    "use-exif": _flag("Use EXIF GPS even when a GCP file is present."),
    "gps-accuracy": _float("GPS accuracy in metres used as a bundle adjustment prior.", 0.001, 1_000_000),
    "ignore-gsd": _flag("Ignore the ground sampling distance when capping resolutions."),
    "rolling-shutter": _flag("Correct rolling shutter distortion."),
    "rolling-shutter-readout": _int(
        "Rolling shutter sensor readout time in milliseconds (0 = auto).", 0, 10_000
    ),
    "sky-removal": _flag("Mask the sky with AI (slower)."),
    "bg-removal": _flag("Mask the background with AI (slower)."),
    "radiometric-calibration": _choice(
        "Radiometric calibration of multispectral images.", "none", "camera", "camera+sun"
    ),
    "skip-band-alignment": _flag("Do not align the bands of multispectral images."),
    "primary-band": OdmOption(
        "string",
        "Band used for reconstruction of multispectral datasets (auto or a band name).",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,31}$",  # never a leading dash: ODM would read the value as a flag
    ),
    "no-gpu": _flag("Do not use the GPU even when one is present."),
    # Point cloud, mesh and DEM
    "pc-quality": _choice("Point cloud density.", *QUALITY),
    "pc-classify": _flag("Classify the point cloud into ground and non-ground."),
    "pc-filter": _float("Statistical outlier filter standard deviations (0 disables).", 0, 100),
    "pc-sample": _float("Point cloud sampling radius in metres (0 disables).", 0, 1000),
    "pc-las": _flag("Also export the georeferenced point cloud as LAS."),
    "pc-ept": _flag("Also export the point cloud as Entwine Point Tiles."),
    "pc-copc": _flag("Also export the point cloud as Cloud Optimized Point Cloud."),
    "pc-skip-geometric": _flag("Skip geometric consistency checks (faster, noisier)."),
    "mesh-size": _int("Maximum vertex count of the mesh.", 1000, 100_000_000),
    "mesh-octree-depth": _int("Octree depth of the mesh.", 1, 14),
    "use-3dmesh": _flag("Use the full 3D mesh for the orthophoto instead of the 2.5D mesh."),
    "texturing-single-material": _flag("Write the textured model with one material and one texture."),
    "texturing-keep-unseen-faces": _flag("Keep faces no camera sees."),
    "dem-gapfill-steps": _int("Gap-fill steps for DEMs (0 disables).", 0, 100),
    "dem-decimation": _int("Decimate the points before DEM generation by this factor.", 1, 1000),
    "dem-euclidean-map": _flag("Write a euclidean raster map for each DEM."),
    # Large datasets
    "split": _int("Average number of images per submodel (split-merge); default no split.", 1, 1_000_000),
    "split-overlap": _float("Overlap between submodels in metres.", 0, 100_000),
    "merge": _choice("What to merge after split.", "all", "pointcloud", "orthophoto", "dem"),
    # Run control
    "max-concurrency": _int("Maximum processes ODM runs at once (about 1 GB peak memory each).", 1, 1024),
    "end-with": _choice("Stop after this stage.", *STAGE_NAMES),
    "rerun-from": _choice(
        "Rerun from this stage (useful with a previous project in the input).", *STAGE_NAMES
    ),
    "rerun": _choice("Rerun only this stage.", *STAGE_NAMES),
    "time": _flag("Write a benchmark.txt with the time each stage took."),
}

# Options the operator controls itself, or that would read or write outside the staged project.
RESERVED: dict[str, str] = {
    "project-path": "the operator stages the project at /data/project itself",
    "name": "the operator names the project itself",
    "copy-to": "outputs are copied to spec.output.s3Uri by the operator; set that instead",
    "sm-cluster": "jobs run on the ECS capacity in spec.capacity, not on an external ClusterODM",
    "gcp": "put gcp_list.txt in the input prefix; ODM finds it in the project",
    "geo": "put geo.txt in the input prefix; ODM finds it in the project",
    "align": "put align.laz, align.las or align.tif in the input prefix; ODM finds it in the project",
    "boundary": "use auto-boundary, or crop; a boundary file path would point outside the project",
    "cameras": "a camera file path would point outside the project",
    "rerun-all": "every job runs in a fresh work volume, so there is nothing to delete",
}


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
    return errors


def _check_one(name: str, value: object) -> str | None:
    bare = name.removeprefix("--")
    if bare != name:
        return f"write the option without dashes: {bare!r}"
    if name in RESERVED:
        return f"{name!r} is set by the operator and cannot be given: {RESERVED[name]}"
    option = OPTIONS.get(name)
    if option is None:
        close = difflib.get_close_matches(name, list(OPTIONS), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown ODM option {name!r}{hint} (see the ODM option table in the docs)"
    return _check_value(name, option, value)


def _check_value(name: str, option: OdmOption, value: object) -> str | None:
    if option.kind == "flag":
        if not isinstance(value, bool):
            return f"{name!r} is a flag: use true or false, not {value!r}"
        return None
    if option.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name!r} takes {'an integer' if option.kind == 'int' else 'a number'}, not {value!r}"
        if isinstance(value, float) and value != value:  # NaN passes every bound check below
            return f"{name!r} takes a number, not NaN"
        if option.kind == "int" and isinstance(value, float) and not value.is_integer():
            return f"{name!r} takes an integer, not {value!r}"
        if option.minimum is not None and value < option.minimum:
            return f"{name!r} must be >= {_num(option.minimum)}, got {value!r}"
        if option.maximum is not None and value > option.maximum:
            return f"{name!r} must be <= {_num(option.maximum)}, got {value!r}"
        return None
    if option.kind == "choice":
        if not isinstance(value, str) or value not in option.choices:
            allowed = ", ".join(option.choices)
            return f"{name!r} must be one of: {allowed}; got {value!r}"
        return None
    import re

    if not isinstance(value, str) or not option.pattern or not re.fullmatch(option.pattern, value):
        return f"{name!r} takes a short name of letters, digits, '_' or '-' (not first), got {value!r}"
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
        args.extend([f"--{name}", str(value)])
    return args


def flags_in(args: list[str]) -> set[str]:
    """The option names present in an ODM argv (the inverse view the sandbox and tests use)."""
    return {a[2:] for a in args if a.startswith("--")}
