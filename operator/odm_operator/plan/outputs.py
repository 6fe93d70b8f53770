"""The products a successful job left under its output prefix, from one listing of it."""

from __future__ import annotations

from typing import Any

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
}


def outputs_from(prefix_uri: str, objects: list[tuple[str, int]]) -> dict[str, Any]:
    """status.outputs from (key relative to the prefix, size) pairs."""
    base = prefix_uri if prefix_uri.endswith("/") else prefix_uri + "/"
    present = {key for key, _ in objects}
    out: dict[str, Any] = {}
    for product, candidates in PRODUCTS.items():
        found = next((c for c in candidates if c in present), None)
        if found:
            out[product] = base + found
    out["count"] = len(objects)
    out["totalBytes"] = sum(size for _, size in objects)
    return out
