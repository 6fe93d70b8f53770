"""What the three containers run: the stage-in and stage-out scripts, ODM's argv and its environment.

Facts from ODM 3.6.0 (OpenDroneMap/ODM ``v3.6.0``; reference/odm-fidelity.md):
- ODM takes images with the extensions in ``opendm/context.py`` (``supported_extensions``) and videos with
  ``supported_video_extensions``; ``*_mask.*`` files are masks of an image, not images.
- ODM lists its results in ``opendm/utils.py`` ``get_processing_results_paths()`` (what ``--copy-to`` copies):
  stage-out uploads every one of them, plus ``potree_pointcloud``, which NodeODM also keeps.
- NodeODM's ``all.zip`` (``libs/Task.js``, ``allPaths``) holds those paths relative to the project folder and is
  built only when ODM succeeded; stage-out builds the same archive at ``<output prefix>/all.zip`` (the gateway
  serves its downloads from there). ``task_output.txt`` is not in it: ODM's console output is in CloudWatch.
- ODM runs ``multiprocessing.cpu_count()`` processes unless ``--max-concurrency`` is given: inside a container
  that is the host's CPUs, not the task's, so the operator passes the task's vCPUs (as NodeODM and ClusterODM do).
- ``opendm/log.py`` wraps every line in ANSI colour codes unless the environment has ``no_ansiesc``.
"""

from __future__ import annotations

from .. import contract
from ..api import odm_options

# ODM 3.6.0 opendm/context.py: supported_extensions and supported_video_extensions.
IMAGE_EXTENSIONS = contract.IMAGE_EXTENSIONS
VIDEO_EXTENSIONS = contract.VIDEO_EXTENSIONS
# Files ODM finds at the project root (opendm/types.py ODM_Tree: io.find(..., root_path)).
AUX_FILES = ("gcp_list.txt", "geo.txt", "image_groups.txt", "align.laz", "align.las", "align.tif")

# ODM 3.6.0 opendm/utils.py get_processing_results_paths(), in its order, plus NodeODM's potree_pointcloud.
RESULT_PATHS = (
    "odm_georeferencing",
    "odm_orthophoto",
    "odm_dem",
    "odm_report",
    "odm_texturing",
    "entwine_pointcloud",
    "dsm_tiles",
    "dtm_tiles",
    "orthophoto_tiles",
    "3d_tiles",
    "images.json",
    "cameras.json",
    "log.json",
    "potree_pointcloud",
)
# NodeODM libs/Task.js allPaths (relative to the project folder), without task_output.txt (see above).
ALL_ZIP_PATHS = (
    "odm_orthophoto/odm_orthophoto.tif",
    "odm_orthophoto/odm_orthophoto.tfw",
    "odm_orthophoto/odm_orthophoto.png",
    "odm_orthophoto/odm_orthophoto.wld",
    "odm_orthophoto/odm_orthophoto.mbtiles",
    "odm_orthophoto/odm_orthophoto.kmz",
    "odm_orthophoto/odm_orthophoto_extent.dxf",
    "odm_orthophoto/cutline.gpkg",
    "odm_georeferencing",
    "odm_texturing",
    "odm_dem/dsm.tif",
    "odm_dem/dtm.tif",
    "dsm_tiles",
    "dtm_tiles",
    "odm_dem/dsm.euclideand.tif",
    "odm_dem/dtm.euclideand.tif",
    "orthophoto_tiles",
    "potree_pointcloud",
    "entwine_pointcloud",
    "3d_tiles",
    "images.json",
    "cameras.json",
    "log.json",
    "odm_report",
)
ALL_ZIP = "all.zip"
# On stage-out: spec.output.archivePaths (NodeODM's ``outputs``), space-separated, instead of ALL_ZIP_PATHS.
ENV_ARCHIVE_PATHS = "ODM_ARCHIVE_PATHS"

# Environment of the odm container: opendm/log.py prints no ANSI colour codes when no_ansiesc is set, so
# CloudWatch lines are plain text (NodeODM strips them instead).
ODM_ENV = {"no_ansiesc": "1"}


def _find_images() -> str:
    """A find(1) expression for ODM's image and video extensions, masks excluded (case-insensitive)."""
    names = " -o ".join(f"-iname '*{ext}'" for ext in (*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS))
    return f"find /data/project/images -maxdepth 1 -type f \\( {names} \\) ! -iname '*_mask.*'"


_AUX = " ".join(AUX_FILES)
SEED_ZIP = "seed.zip"
_EXTS = ", ".join(ext[1:] for ext in (*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS))

# seed.zip (NodeODM libs/taskNew.js: an uploaded seed.zip is unzipped into the project folder, then deleted; ODM's
# split-merge sends each submodel's OpenSfM files that way, opendm/remote.py). Every member is checked before
# anything is written: one that would land outside the project (absolute, '..', a symbolic link) fails stage-in
# (zip-slip). Python, as for all.zip below: the AWS CLI image has no unzip(1); valid in Python 2.7 and 3.
_UNZIP_PY = """import os, sys, zipfile
root = os.path.realpath(sys.argv[2])
z = zipfile.ZipFile(sys.argv[1])
for m in z.infolist():
    dest = os.path.realpath(os.path.join(root, m.filename))
    link = (m.external_attr >> 16) & 0o170000 == 0o120000
    if link or not (dest == root or dest.startswith(root + os.sep)):
        sys.stderr.write("seed.zip: member %s would be written outside the project\\n" % m.filename)
        sys.exit(1)
z.extractall(root)
z.close()"""

STAGE_IN_SCRIPT = f"""set -eu
mkdir -p /data/project/images
aws s3 cp --recursive --only-show-errors "$ODM_INPUT_S3_URI" /data/project/images/
if [ -f /data/project/images/{SEED_ZIP} ]; then
  py=$(command -v python3 || command -v python)
  "$py" -c '{_UNZIP_PY}' /data/project/images/{SEED_ZIP} /data/project
  rm -f /data/project/images/{SEED_ZIP}
  echo "unpacked {SEED_ZIP} into the project"
fi
for f in {_AUX}; do
  if [ -f "/data/project/images/$f" ]; then mv "/data/project/images/$f" /data/project/; fi
done
n=$({_find_images()} | wc -l)
if [ "$n" -eq 0 ]; then echo "no images ({_EXTS}) under $ODM_INPUT_S3_URI" >&2; exit 1; fi
echo "staged $n images from $ODM_INPUT_S3_URI"
"""

_INCLUDES = " ".join(
    f"--include '{path}/*'" if "." not in path else f"--include '{path}'" for path in RESULT_PATHS
)
_ZIP_PATHS = " ".join(ALL_ZIP_PATHS)

# all.zip: the AWS CLI v2 image (amazonlinux:2) has no zip(1) but has Python (yum needs it), whose zipfile
# module writes the archive (``python -m zipfile -c`` would drop the folders of file arguments, hence the few
# lines, valid in Python 2.7 and 3). Paths are relative because the script runs in the project folder. Built
# only when log.json says ODM succeeded, like NodeODM, and written outside the project so it is not uploaded
# twice. It needs as much free disk again as the products take.
_ZIP_PY = """import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED, allowZip64=True)
for p in sys.argv[2:]:
    for root, _, names in (os.walk(p) if os.path.isdir(p) else [("", [], [p])]):
        for n in sorted(names):
            z.write(os.path.join(root, n))
z.close()"""
STAGE_OUT_SCRIPT = f"""set -eu
cd /data/project
aws s3 cp --recursive --only-show-errors . "$ODM_OUTPUT_S3_URI" --exclude '*' \\
  {_INCLUDES}
echo "copied products to $ODM_OUTPUT_S3_URI"
if [ -f log.json ] && grep -q '"success": true' log.json; then
  set --
  for p in ${{{ENV_ARCHIVE_PATHS}:-{_ZIP_PATHS}}}; do
    if [ -e "$p" ]; then set -- "$@" "$p"; fi
  done
  py=$(command -v python3 || command -v python)
  rm -f /data/{ALL_ZIP}
  "$py" -c '{_ZIP_PY}' /data/{ALL_ZIP} "$@"
  aws s3 cp --only-show-errors /data/{ALL_ZIP} "${{ODM_OUTPUT_S3_URI%/}}/{ALL_ZIP}"
  echo "copied {ALL_ZIP} ($# paths) to ${{ODM_OUTPUT_S3_URI%/}}/{ALL_ZIP}"
fi
"""


def odm_argv(options: dict[str, object], vcpus: int, sm_cluster: str | None = None) -> list[str]:
    """The odm container's command: the project, the job's options, and ``--max-concurrency`` = the task's
    vCPUs unless the job set it (ODM would otherwise count the host's CPUs). ``sm_cluster`` (distributed
    split-merge, plan/split_merge.py) becomes ``--sm-cluster``, an option users cannot give themselves."""
    args = odm_options.to_args(options)
    if "max-concurrency" not in options:
        args += ["--max-concurrency", str(max(1, vcpus))]
    if sm_cluster:
        args += ["--sm-cluster", sm_cluster]
    return ["--project-path", contract.DATA_DIR, contract.PROJECT, *args]


def odm_environment() -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in sorted(ODM_ENV.items())]
