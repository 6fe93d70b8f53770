"""The products a successful job left under its output prefix, from one listing of it.

Only what exists is listed, so the conditional products come out right by construction: DSM and DTM only with
``dsm``/``dtm``, no textured model with ``fast-orthophoto`` or in a split run, tiles only with ``tiles``. The
paths are ODM's (opendm/types.py ODM_Tree) and the ``all.zip`` stage-out builds (plan/odm_command.py).
"""

from __future__ import annotations

from typing import Any

from .odm_command import ALL_ZIP

# status.outputs key -> object keys (relative to the output prefix), first found wins.
PRODUCTS: dict[str, tuple[str, ...]] = {
    "orthophoto": ("odm_orthophoto/odm_orthophoto.tif",),
    "dsm": ("odm_dem/dsm.tif",),
    "dtm": ("odm_dem/dtm.tif",),
    "pointCloud": (
        "odm_georeferencing/odm_georeferenced_model.laz",
        "odm_georeferencing/odm_georeferenced_model.copc.laz",
        "odm_georeferencing/odm_georeferenced_model.las",
    ),
    "texturedModel": ("odm_texturing/odm_textured_model_geo.obj",),
    "report": ("odm_report/report.pdf",),
    "log": ("log.json",),
    "allZip": (ALL_ZIP,),
    "entwinePointCloud": ("entwine_pointcloud/ept.json",),
}
# status.outputs key -> a folder (relative to the output prefix) listed when anything is under it.
FOLDERS: dict[str, str] = {"tiles": "orthophoto_tiles/", "tiles3d": "3d_tiles/"}


def outputs_from(prefix_uri: str, objects: list[tuple[str, int]]) -> dict[str, Any]:
    """status.outputs from (key relative to the prefix, size) pairs."""
    base = prefix_uri if prefix_uri.endswith("/") else prefix_uri + "/"
    present = {key for key, _ in objects}
    out: dict[str, Any] = {}
    for product, candidates in PRODUCTS.items():
        found = next((c for c in candidates if c in present), None)
        if found:
            out[product] = base + found
    for product, folder in FOLDERS.items():
        if any(key.startswith(folder) for key in present):
            out[product] = base + folder
    out["count"] = len(objects)
    out["totalBytes"] = sum(size for _, size in objects)
    return out
