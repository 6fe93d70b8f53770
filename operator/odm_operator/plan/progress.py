"""ODM's progress from its log lines and the containers' states.

ODM logs ``Running <stage> stage`` and ``Finished <stage> stage``; each finished stage has a cumulative percent
(dataset 5, opensfm 25, ... odm_postprocess 100). While stage-in or stage-out run, those are shown as stages of
their own. Pure: the tracker feeds it lines it read in batches from CloudWatch Logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import contract

MILESTONES = dict(contract.ODM_STAGES)
_ORDER = [name for name, _ in contract.ODM_STAGES]
_LINE = re.compile(r"\b(Running|Finished) (\w+) stage\b")
STAGE_IN, STAGE_OUT, DONE = "stage-in", "stage-out", "completed"


@dataclass(frozen=True)
class Progress:
    stage: str
    percent: int

    def as_status(self) -> dict[str, object]:
        return {"percent": self.percent, "stage": self.stage}


def advance(current: Progress | None, lines: list[str]) -> Progress | None:
    """Progress after ``lines`` (in log order). Never goes backwards."""
    progress = current
    for line in lines:
        match = _LINE.search(line)
        if not match or match.group(2) not in MILESTONES:
            continue
        verb, stage = match.groups()
        if verb == "Finished":
            percent = MILESTONES[stage]
        else:
            index = _ORDER.index(stage)
            percent = MILESTONES[_ORDER[index - 1]] if index else 0
        candidate = Progress(stage, percent)
        if progress is None or progress.stage in (STAGE_IN,) or candidate.percent >= progress.percent:
            progress = candidate
    return progress


def from_containers(
    current: Progress | None, states: dict[str, str | None], exits: dict[str, int | None]
) -> Progress | None:
    """stage-in and stage-out as stages of their own, from the containers' lastStatus and exit codes."""
    if states.get(contract.STAGE_OUT) == "RUNNING" or (
        exits.get(contract.ODM) == 0 and states.get(contract.STAGE_OUT) in ("PENDING", "RUNNING")
    ):
        return Progress(STAGE_OUT, 100)
    if states.get(contract.STAGE_IN) == "RUNNING" and current is None:
        return Progress(STAGE_IN, 0)
    return current
