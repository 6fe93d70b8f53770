"""Cross-field rules of distributed split-merge and of all.zip's contents (pure; validation.py reports them).

Each rule returns (field path, message) pairs: the path names the field to fix, the message what is allowed.
"""

from __future__ import annotations

from typing import Any


def problems(spec: dict[str, Any]) -> list[tuple[str, str]]:
    odm = spec.get("odm") if isinstance(spec.get("odm"), dict) else {}
    output = spec.get("output") if isinstance(spec.get("output"), dict) else {}
    return _distributed(odm) + _archive_paths(output)


def _distributed(odm: dict[str, Any]) -> list[tuple[str, str]]:
    """distributed needs options.split. ODM itself accepts --sm-cluster without --split (stages/splitmerge.py
    then logs "Normal dataset, will process all at once." and never calls the cluster): a job asking for
    distributed processing of a dataset that is never split would silently get none, so the operator refuses it."""
    split_merge = odm.get("splitMerge")
    if not isinstance(split_merge, dict) or split_merge.get("distributed") is not True:
        return []
    options = odm.get("options") if isinstance(odm.get("options"), dict) else {}
    if "split" in options:
        return []
    return [
        (
            "spec.odm.splitMerge.distributed",
            "needs spec.odm.options.split (the average number of images per submodel, e.g. split: 400): "
            "without it ODM never splits the dataset; set split, or set distributed: false",
        )
    ]


def _archive_paths(output: dict[str, Any]) -> list[tuple[str, str]]:
    """The schema's pattern (RE2, no lookahead) refuses a leading '/' or '.'; '..' parts are refused here."""
    paths = output.get("archivePaths")
    out = []
    for i, path in enumerate(paths if isinstance(paths, list) else []):
        if isinstance(path, str) and ".." in path.split("/"):
            out.append(
                (
                    f"spec.output.archivePaths[{i}]",
                    f"must be a path inside the project folder (no '..' part), got {path!r}",
                )
            )
    return out
