"""Crash-restart chaos: jobs of every scenario while the operator is SIGKILLed at random moments and restarted.

The run happens in a child process with a local stack of its own (harness.py): kills must not disturb the e2e
session's operator, and moto's state is per process. The short run is part of ``make test``; ``make chaos`` runs
CHAOS_JOBS=200 CHAOS_KILLS=20. CHAOS_SEED replays a run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
JOBS = int(os.environ.get("CHAOS_JOBS", "40"))
KILLS = int(os.environ.get("CHAOS_KILLS", "3"))
SEED = int(os.environ.get("CHAOS_SEED", "1"))

pytestmark = pytest.mark.e2e


def test_jobs_end_as_their_scenarios_imply_through_operator_kills(tmp_path: Path):
    report_path = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "tests.chaos.harness",
        f"--jobs={JOBS}",
        f"--kills={KILLS}",
        f"--seed={SEED}",
        f"--state-dir={tmp_path / 'stack'}",
        f"--report={report_path}",
    ]
    budget = 120 + 25 * KILLS + 2 * JOBS
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=budget)
    assert report_path.exists(), f"the chaos run did not finish:\n{result.stdout}\n{result.stderr[-4000:]}"
    report = json.loads(report_path.read_text())
    summary = result.stdout.strip().splitlines()[0]
    print(f"\nCrash-restart chaos: {summary}")
    replay = f"python -m tests.chaos.harness --jobs {JOBS} --kills {KILLS} --seed {SEED}"
    problems = "\n".join(
        report["wrong"] + report["duplicates"] + report["leaks"] + report["lost"] + report["errors"]
    )
    assert report["problems"] == 0, (
        f"{summary}\nreplay: {replay}\n{problems}\n\noperator log:\n{report['operator_log']}"
    )
    assert report["kills"] == KILLS, "every kill happened"
    assert report["duplicates"] == [] and report["leaks"] == [] and report["lost"] == []
    assert report["run_tasks"] >= JOBS // 2, "the jobs ran"
