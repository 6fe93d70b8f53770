"""ODM's progress from its log lines and the containers' states.

ODM logs ``Running <stage> stage`` and ``Finished <stage> stage`` (opendm/types.py ODM_Stage.run); each finished
stage has a cumulative percent (dataset 5, opensfm 25, ... odm_postprocess 100, stages/odm_app.py). While
stage-in or stage-out run, those are shown as stages of their own. Pure: the tracker feeds it lines it read in
batches from CloudWatch Logs.

Split-merge on one task (stages/splitmerge.py): the split stage runs the whole pipeline on every submodel and
prints each submodel's log into the main one, "Finished odm_postprocess stage" included, so a submodel's lines
are read as a share of the split stage: a ``Running dataset stage`` inside the main run's open split stage
starts a submodel, its ``Finished odm_postprocess stage`` ends it. The split stage goes from 5 to 75 (ODM's
own progress for it): a quarter for clustering and the submodels' reconstruction setup, up to a half once
"Dataset has been split into N submodels", then each submodel an equal share of the other half. merge and
odm_postprocess follow; nothing but the main run's last ``Finished odm_postprocess stage`` reports 100.

The log also tells why ODM failed when the exit code cannot: a full disk is Python's ``[Errno 28] No space
left on device`` (``hint = "disk-full"``), which plan/outcome.py turns into the advice to raise the disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .. import contract

MILESTONES = dict(contract.ODM_STAGES)
_ORDER = [name for name, _ in contract.ODM_STAGES]
_LINE = re.compile(r"\b(Running|Finished) (\w+) stage\b")
_SPLIT_INTO = re.compile(r"Dataset has been split into (\d+) submodels")
DISK_FULL_MARKERS = ("No space left on device", "[Errno 28]")
DISK_FULL = "disk-full"
STAGE_IN, STAGE_OUT, DONE = "stage-in", "stage-out", "completed"
# The split stage's range (ODM declares split at 75), and where a split run's merge ends (below 100: only
# the last odm_postprocess means done).
SPLIT_START, SPLIT_END, SPLIT_MERGED = 5, 75, 98
BEFORE_DONE = 99


@dataclass(frozen=True)
class Progress:
    stage: str
    percent: int
    # Where in a split run the log is (not part of the status, so not compared).
    in_split: bool = field(default=False, compare=False)
    submodel: int | None = field(default=None, compare=False)  # 0-based, while inside a submodel's log
    submodels: int = field(default=0, compare=False)  # announced count; 0 until ODM says
    entered: int = field(default=0, compare=False)  # submodels started so far
    split_run: bool = field(default=False, compare=False)
    hint: str | None = field(default=None, compare=False)  # why ODM failed, when its log says (DISK_FULL)

    def as_status(self) -> dict[str, object]:
        return {"percent": self.percent, "stage": self.stage}


def advance(current: Progress | None, lines: list[str]) -> Progress | None:
    """Progress after ``lines`` (in log order). Never goes backwards."""
    progress = current
    for line in lines:
        if any(marker in line for marker in DISK_FULL_MARKERS):
            progress = replace(progress or Progress(STAGE_IN, 0), hint=DISK_FULL)
            continue
        if progress is not None and progress.in_split:
            progress = _in_split(progress, line)
            continue
        match = _LINE.search(line)
        if not match or match.group(2) not in MILESTONES:
            continue
        verb, stage = match.groups()
        if verb == "Running" and stage == "split":
            base = progress or Progress(stage, MILESTONES["dataset"])
            progress = replace(base, stage=stage, percent=max(base.percent, SPLIT_START), in_split=True)
            continue
        split_run = progress is not None and progress.split_run
        percent = _percent(verb, stage, split_run)
        candidate = Progress(stage, percent)
        if progress is None or progress.stage == STAGE_IN or candidate.percent >= progress.percent:
            hint = progress.hint if progress else None
            progress = replace(candidate, split_run=split_run, hint=hint)
    return progress


def _percent(verb: str, stage: str, split_run: bool) -> int:
    if split_run:  # the main run of a split dataset: dataset, split, merge, odm_postprocess
        finished = {"merge": SPLIT_MERGED, "odm_postprocess": 100}
        started = {"merge": SPLIT_END, "odm_postprocess": SPLIT_MERGED}
        table = finished if verb == "Finished" else started
        if stage in table:
            return table[stage]
    if verb == "Finished":
        return MILESTONES[stage]
    index = _ORDER.index(stage)
    return MILESTONES[_ORDER[index - 1]] if index else 0


def _in_split(p: Progress, line: str) -> Progress:
    """A line printed while the main run's split stage is open: its own, or a submodel's."""
    announced = _SPLIT_INTO.search(line)
    if announced and p.submodel is None:
        return replace(p, submodels=int(announced.group(1)), percent=max(p.percent, _split_share(0.25)))
    match = _LINE.search(line)
    if not match or match.group(2) not in MILESTONES:
        return p
    verb, stage = match.groups()
    if p.submodel is None:
        if verb == "Running" and stage == "dataset":  # a submodel's run begins
            return _sub(replace(p, submodel=p.entered, entered=p.entered + 1), stage, 0)
        if verb == "Finished" and stage == "split":  # the main run's split stage ends
            split_run = p.entered > 0
            end = SPLIT_END if split_run else MILESTONES["split"]
            return replace(p, stage="split", percent=max(p.percent, end), in_split=False, split_run=split_run)
        return p
    sub_percent = MILESTONES[stage] if verb == "Finished" else _percent(verb, stage, False)
    if verb == "Finished" and stage == "odm_postprocess":  # the submodel's run ends
        done = _sub(p, stage, 100)
        return replace(done, submodel=None, stage="split")
    return _sub(p, stage, sub_percent)


def _split_share(fraction: float) -> int:
    return int(SPLIT_START + (SPLIT_END - SPLIT_START) * fraction)


def _sub(p: Progress, stage: str, sub_percent: int) -> Progress:
    k = p.submodel or 0
    count = max(p.submodels, k + 1)
    percent = _split_share(0.5 + 0.5 * (k + sub_percent / 100) / count)
    percent = min(max(p.percent, percent), SPLIT_END - 1 if sub_percent < 100 or k + 1 < count else SPLIT_END)
    return replace(p, stage=f"split: submodel {k + 1}/{count} {stage}", percent=percent)


def from_containers(
    current: Progress | None, states: dict[str, str | None], exits: dict[str, int | None]
) -> Progress | None:
    """stage-in and stage-out as stages of their own, from the containers' lastStatus and exit codes."""
    if states.get(contract.STAGE_OUT) == "RUNNING" or (
        exits.get(contract.ODM) == 0 and states.get(contract.STAGE_OUT) in ("PENDING", "RUNNING")
    ):
        return Progress(STAGE_OUT, 100, hint=current.hint if current else None)
    if states.get(contract.STAGE_IN) == "RUNNING" and current is None:
        return Progress(STAGE_IN, 0)
    return current
