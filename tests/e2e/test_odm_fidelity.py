"""ODM fidelity end to end: conditional products and all.zip, split-merge progress, and ODM's exit codes."""

from __future__ import annotations

import io
import time
import zipfile

import pytest

from .conftest import E2E, odmjob

pytestmark = pytest.mark.e2e
OUTPUT_BUCKET = "odm-sandbox-output"


def test_outputs_and_all_zip_hold_only_what_the_options_produce(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(odmjob("fast", ns, odm={"options": {"fast-orthophoto": True, "dsm": True, "tiles": True}}))
    status = e2e.wait_phase(ns, "fast", "Succeeded", "Failed", timeout=90)["status"]
    assert status["phase"] == "Succeeded", status

    outputs = status["outputs"]
    base = f"s3://{OUTPUT_BUCKET}/{ns}/fast/"
    assert {"orthophoto", "dsm", "pointCloud", "report", "log", "allZip", "tiles"} <= set(outputs)
    assert "texturedModel" not in outputs and "dtm" not in outputs  # fast-orthophoto: no 3D model; no --dtm
    assert outputs["allZip"] == base + "all.zip"
    body = e2e.s3.get_object(Bucket=OUTPUT_BUCKET, Key=f"{ns}/fast/all.zip")["Body"].read()
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert {"odm_orthophoto/odm_orthophoto.tif", "odm_dem/dsm.tif", "cameras.json", "log.json"} <= set(names)
    assert any(n.startswith("orthophoto_tiles/") for n in names)
    assert not any(n.startswith("odm_texturing/") for n in names)


def test_a_split_run_reports_progress_through_its_submodels_and_reaches_100_only_when_done(e2e: E2E):
    ns = e2e.namespace()
    obj = odmjob("split", ns, odm={"options": {"split": 50, "dsm": True}})
    obj["spec"]["input"]["s3Uri"] = e2e.put_dataset(f"{ns}-split", 150)  # long enough to watch
    e2e.apply(obj)
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 90
    phase = None
    while phase not in ("Succeeded", "Failed") and time.monotonic() < deadline:
        status = (e2e.get(ns, "split") or {}).get("status") or {}
        phase = status.get("phase")
        progress = status.get("progress")
        if (
            progress
            and phase == "Running"
            and (not seen or seen[-1] != (progress["stage"], progress["percent"]))
        ):
            seen.append((progress["stage"], progress["percent"]))
        time.sleep(0.05)

    assert phase == "Succeeded", status
    percents = [p for _, p in seen]
    assert percents == sorted(percents), f"progress went backwards: {seen}"
    odm = [(s, p) for s, p in seen if s not in ("stage-in", "stage-out")]
    assert odm and max(p for _, p in odm) < 100 or odm[-1][0] == "odm_postprocess", (
        f"100 before the end: {seen}"
    )
    assert any(s.startswith("split: submodel") for s, _ in seen), f"no submodel progress seen: {seen}"
    assert all(p < 75 for s, p in seen if s.startswith("split: submodel")), seen
    outputs = status["outputs"]
    assert "texturedModel" not in outputs and "report" not in outputs  # the main run of a split has neither


EXPECTED = {
    1: "OdmFailed",
    2: "OdmBadArguments",
    3: "OdmInstallationIssue",
    132: "CpuUnsupported",
    134: "OdmAborted",
    139: "OdmCrashed",
    "disk-full": "DiskFull",
}


def test_each_odm_exit_code_the_sandbox_is_told_to_fail_with_gets_its_reason(e2e: E2E):
    ns = e2e.namespace()
    names = {code: f"exit-{code}" for code in EXPECTED}
    for code, name in names.items():
        e2e.control("/odm-failures", {"namespace": ns, "name": name, "exitCode": code, "stage": "opensfm"})
        e2e.apply(odmjob(name, ns))
    for code, name in names.items():
        status = e2e.wait_phase(ns, name, "Failed", "Succeeded", timeout=120)["status"]
        assert (status["phase"], status["reason"]) == ("Failed", EXPECTED[code]), (code, status)
        assert status["attempts"][-1]["exitCode"] == (1 if code == "disk-full" else code)
        assert len(status["attempts"]) == 1, "ODM's own failures are not retried"
    disk = e2e.get(ns, names["disk-full"])["status"]["message"]
    assert "spec.resources.disk" in disk
