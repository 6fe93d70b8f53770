"""Fixtures and helpers for the Kubernetes emulator tests: an emulator, kubectl, the kubernetes client.

Imported by the `test_kube_*` modules (there is no conftest here, so that other suites stay independent).
Every test gets its own emulator (starting one costs a few milliseconds) and its own kubectl cache dir.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import kubernetes
import pytest

from odm_sandbox.kube import DEFAULT_CRD, KubeEmulator

T = TypeVar("T")

REPO = pathlib.Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "odm-operator.io", "v1alpha1", "odmjobs"
KUBECTL_TIMEOUT = 30  # seconds; a hung kubectl should fail the test, not the whole run


def find_kubectl() -> str | None:
    local = REPO / ".tools" / "bin" / "kubectl"
    if local.exists():
        return str(local)
    return shutil.which("kubectl")


def odmjob(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    """A valid ODMJob body; keyword arguments override or add spec fields."""
    body_spec = {"input": {"s3Uri": f"s3://raw/{name}/"}, "output": {"s3Uri": f"s3://products/{name}/"}}
    body_spec.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ODMJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body_spec,
    }


def eventually(check: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.01) -> T:
    """Poll until `check()` returns something truthy; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


class Kubectl:
    """Runs the real kubectl against the emulator, with a private kubeconfig and discovery cache."""

    def __init__(self, binary: str, workdir: pathlib.Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.kubeconfig = workdir / "kubeconfig"

    def args(self, *args: str) -> list[str]:
        return [
            self.binary,
            "--kubeconfig",
            str(self.kubeconfig),
            "--cache-dir",
            str(self.workdir / "cache"),
            *args,
        ]

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            self.args(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT,
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self(*args, "-o", "json", stdin=stdin).stdout)

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.args(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def emulator() -> Iterator[KubeEmulator]:
    with KubeEmulator(crd_paths=[DEFAULT_CRD]) as k8s:
        yield k8s
        assert not k8s.unexpected_errors, k8s.unexpected_errors[-1]


@pytest.fixture
def kubectl(emulator: KubeEmulator, tmp_path: pathlib.Path) -> Kubectl:
    binary = find_kubectl()
    if binary is None:
        pytest.skip("kubectl is not installed (run `make tools`)")
    tool = Kubectl(binary, tmp_path)
    emulator.write_kubeconfig(tool.kubeconfig)
    return tool


@pytest.fixture
def api_client(emulator: KubeEmulator, tmp_path: pathlib.Path) -> Iterator[kubernetes.client.ApiClient]:
    path = emulator.write_kubeconfig(tmp_path / "client-kubeconfig")
    client = kubernetes.config.new_client_from_config(config_file=str(path))
    yield client
    client.close()


@pytest.fixture
def custom(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client)


def create_job(custom: kubernetes.client.CustomObjectsApi, name: str, **spec: Any) -> dict[str, Any]:
    return custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, odmjob(name, **spec))


def get_job(custom: kubernetes.client.CustomObjectsApi, name: str) -> dict[str, Any]:
    return custom.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)


def job_exists(custom: kubernetes.client.CustomObjectsApi, name: str) -> bool:
    try:
        get_job(custom, name)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def api_error(call: Callable[[], Any]) -> kubernetes.client.ApiException:
    """The ApiException a call raises (fails if it succeeds), with the Status body parsed into `.status_body`."""
    try:
        call()
    except kubernetes.client.ApiException as exc:
        exc.status_body = json.loads(exc.body) if exc.body else {}
        return exc
    raise AssertionError("the call succeeded but an API error was expected")


class Raw:
    """Plain HTTP against the emulator, for what the clients hide: headers, status bodies, streams."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> tuple[int, dict[str, str], Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=data,
            headers={"Content-Type": content_type, "Accept": accept},
        )
        try:
            with urllib.request.urlopen(request, timeout=KUBECTL_TIMEOUT) as response:
                status, headers, payload = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, headers, payload = exc.code, dict(exc.headers), exc.read()
        try:
            return status, headers, json.loads(payload)
        except ValueError:
            return status, headers, payload.decode()

    def stream(self, path: str, accept: str = "application/json") -> Iterator[dict[str, Any]]:
        """Watch events as they arrive, until the server closes the stream."""
        request = urllib.request.Request(self.url + path, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=KUBECTL_TIMEOUT) as response:
            for line in response:
                yield json.loads(line)


@pytest.fixture
def raw(emulator: KubeEmulator) -> Raw:
    return Raw(emulator.url)
