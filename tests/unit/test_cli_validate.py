"""`odm-operator validate` checks files offline: 0 when all valid, 1 naming every bad field, 2 on unreadable input."""

import os
import subprocess
import sys

from .helpers import EXAMPLES, ROOT

# An admin's digest pin of ODM's CUDA image (a stand-in): ODM has no pinnable GPU release, so the GPU example
# relies on the odmGpuImage setting.
GPU_PIN = {"ODM_OPERATOR_ODM_GPU_IMAGE": "opendronemap/odm@sha256:" + "0" * 64}


def validate(*files: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "odm_operator.cli", "validate", *files],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_every_example_is_valid():
    result = validate(*(str(p) for p in EXAMPLES), env=GPU_PIN)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_gpu_job_without_a_pinned_cuda_image_is_refused_saying_how_to_pin_it():
    result = validate("examples/gpu-spot.yaml")
    assert result.returncode == 1
    assert "spec.odm.image" in result.stdout and "opendronemap/odm@sha256:" in result.stdout


BAD = """\
apiVersion: v1
kind: Namespace
metadata: {name: mapping}
---
apiVersion: odm-operator.io/v1alpha1
kind: ODMJob
metadata: {name: ok, namespace: mapping}
spec:
  input: {s3Uri: "s3://drone-raw/a/"}
  output: {s3Uri: "s3://drone-products/a/"}
---
apiVersion: odm-operator.io/v1alpha1
kind: ODMJob
metadata: {name: bad, namespace: mapping}
spec:
  input: {s3Uri: "s3://drone-raw/a/"}
  output: {s3Uri: "s3://drone-raw/a/out/"}
  odm: {options: {dsmm: true}}
  capacity: {type: fargate}
  resources: {cpu: 3, memory: 8Gi, gpu: 1}
  backoffLimit: 20
"""


def test_a_bad_document_names_every_bad_field_with_file_and_document(tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text(BAD)
    result = validate(str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for field in (
        "spec.output.s3Uri",
        "spec.odm.options.dsmm",
        "spec.resources.cpu",
        "spec.resources.gpu",
        "spec.backoffLimit",
    ):
        assert any(line.startswith(f"{path}#3: {field}: ") for line in lines), (field, lines)
    assert not any("#2" in line for line in lines), "the valid document has no errors"
    assert not any("#1" in line for line in lines), "the Namespace is not an ODMJob and is skipped"


def test_an_unreadable_file_exits_2(tmp_path):
    result = validate(str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_broken_yaml_exits_2(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("spec: [unclosed\n")
    result = validate(str(path))
    assert result.returncode == 2
    assert "not valid YAML" in result.stderr


def test_a_file_without_an_odmjob_is_invalid(tmp_path):
    path = tmp_path / "ns.yaml"
    path.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    assert validate(str(path)).returncode == 1
