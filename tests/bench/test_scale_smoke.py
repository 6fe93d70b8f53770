"""The scale benchmark at N = 20, ours and the naive baseline, so that it cannot rot.

It runs benchmarks/scale.py as `make bench` does (a child process: the benchmark starts its own sandbox, whose
moto state is global to a process) and checks that the report has every figure with sane values. The N = 1000
targets of issue 8 are for `make bench`, not for this test; the one target that holds at any N is checked here:
our DescribeTasks calls per poll interval stay within ceil(active tasks / 100).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
JOBS = 20
# A 200-image job takes ~10 s at 400x; a 2 s poll keeps the naive operator's 20 per-job timers (10 DescribeTasks
# per second) under ECS's task-read refill (20/s), so the baseline finishes instead of backing off for a minute.
ARGS = ["--jobs", str(JOBS), "--baseline", "--time-scale", "400", "--poll", "2", "--timeout", "40"]

pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "scale.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "scale.py"), *ARGS, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=140,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    printed = json.loads(result.stdout)
    written = json.loads(out.read_text())
    assert printed == written, "the JSON printed is the JSON written to --out"
    assert "targets (ours)" in result.stderr, "the human table is printed"
    return written


@pytest.mark.parametrize("run", ["ours", "naive"])
def test_every_job_succeeds_and_each_runs_one_task(report: dict, run: str):
    figures = report[run]
    assert figures["outcome"] == {"Succeeded": JOBS, "Failed": 0, "Cancelled": 0, "unfinished": 0}
    assert figures["run_tasks_accepted"] == JOBS
    assert figures["operator_exited"] is None
    assert not figures["timed_out"]


@pytest.mark.parametrize("run", ["ours", "naive"])
def test_times_are_ordered_and_the_floor_is_zero_below_the_burst(report: dict, run: str):
    figures = report[run]
    assert figures["quota_floor_s"] == 0
    assert figures["launch_ratio_to_floor"] is None  # no floor to compare with at N <= 100
    assert 0 < figures["first_run_task_s"] <= figures["last_run_task_s"] < figures["all_succeeded_s"]
    assert figures["all_succeeded_s"] <= figures["measured_s"] + 1
    assert figures["max_active_tasks"] == JOBS


@pytest.mark.parametrize("run", ["ours", "naive"])
def test_aws_calls_are_counted_by_operation(report: dict, run: str):
    aws = report[run]["aws"]
    assert aws["calls"]["ecs:RunTask"] >= JOBS
    assert aws["calls"]["ecs:DescribeTasks"] >= 1
    assert aws["calls_total"] == sum(aws["calls"].values())
    assert aws["throttled_total"] == sum(aws["throttled"].values())
    assert aws["read_calls_total"] == sum(aws["read_calls"].values())
    assert aws["ecs_read_calls"] == sum(n for op, n in aws["read_calls"].items() if op.startswith("ecs:"))
    assert all(
        op.partition(":")[2].startswith(("Describe", "List", "Get", "Filter", "Head"))
        for op in aws["read_calls"]
    )
    assert aws["task_read_calls"] >= aws["calls"]["ecs:DescribeTasks"]


@pytest.mark.parametrize("run", ["ours", "naive"])
def test_kubernetes_writes_and_changes_are_counted_per_job(report: dict, run: str):
    writes = report[run]["kube_writes"]
    assert writes["jobs_seen"] == JOBS
    for key in ("status_patches_per_job", "other_object_writes_per_job", "phase_progress_changes_per_job"):
        spread = writes[key]
        assert 0 <= spread["min"] <= spread["median"] <= spread["max"], key
    assert writes["status_patches_per_job"]["min"] >= 1, "every job had its status written"
    # Pending/Starting -> Running -> Succeeded at least.
    assert writes["phase_progress_changes_per_job"]["min"] >= 2
    assert 0 <= writes["jobs_within_status_target"] <= JOBS


@pytest.mark.parametrize("run", ["ours", "naive"])
def test_operator_process_figures_are_measured(report: dict, run: str):
    operator = report[run]["operator"]
    assert 20 < operator["peak_rss_mb"] < 2000
    assert operator["cpu_s_during_run"] > 0
    assert operator["cpu_s_total"] >= operator["cpu_s_during_run"]


def test_the_naive_operator_polls_per_job_and_ours_in_batches(report: dict):
    ours, naive = report["ours"]["describe_tasks_window"], report["naive"]["describe_tasks_window"]
    assert ours["kind"] == "all-active" and ours["active_max"] == JOBS
    assert ours["intervals"] >= 2
    # Our tracker: one DescribeTasks per 100 active tasks per interval (one cluster).
    assert ours["calls_per_interval"] <= math.ceil(ours["active_max"] / 100)
    assert naive["calls_per_interval"] > ours["calls_per_interval"]
    comparison = report["comparison"]
    assert comparison["task_read_calls_naive_over_ours"] > 1
    assert set(comparison) >= {
        "ecs_read_calls_naive_over_ours",
        "read_calls_naive_over_ours",
        "describe_per_interval_naive_over_ours",
    }


def test_our_jobs_surface_no_throttling(report: dict):
    assert report["ours"]["throttles_surfaced"]["jobs_with_throttling_in_status"] == 0


def test_the_report_says_what_it_measured(report: dict):
    assert report["config"]["jobs"] == JOBS
    assert report["config"]["fargate_jobs"] + report["config"]["ec2_jobs"] == JOBS
    assert {"read_calls", "last_run_task_s", "describe_tasks_window"} <= set(report["definitions"])
    assert set(report["targets"]) >= {
        "launch_within_1.10_floor",
        "no_throttle_surfaced",
        "describe_per_interval_within_ceil_active_over_100",
        "peak_rss_within_150_mb",
        "status_writes_within_changes_plus_2",
        "ecs_read_calls_50x_fewer_than_naive",
    }
    assert report["sandbox_errors"] == []
