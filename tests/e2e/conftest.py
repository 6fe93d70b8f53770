"""End-to-end fixtures: one local stack (Kubernetes API emulator, AWS emulator, the operator as a child process)
for the whole session, driven with the real kubectl and boto3. Each test works in its own namespace."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from odm_sandbox.stack import Stack

from ..tools import tool_binary

REPO = Path(__file__).resolve().parents[2]
# Simulated seconds per real second: a 30-image job (~14 simulated minutes) takes ~1.5 s.
TIME_SCALE = 600.0
_names = itertools.count(1)
# How often the e2e tests look again while waiting for a condition.
POLL_SECONDS = 0.05


class E2E:
    def __init__(self, stack: Stack, tmp: Path):
        self.stack = stack
        self.kubectl_path = tool_binary("kubectl")
        self.cache = tmp / "kubectl-cache"
        self.ecs = stack.client("ecs")
        self.s3 = stack.client("s3")

    # ----- kubectl ---------------------------------------------------------------------------------------------

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        cmd = [
            self.kubectl_path,
            "--kubeconfig",
            str(self.stack.kubeconfig),
            "--cache-dir",
            str(self.cache),
            *args,
        ]
        result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def namespace(self) -> str:
        name = f"t{next(_names)}"
        self.kubectl("create", "namespace", name)
        return name

    def apply(self, obj: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess:
        return self.kubectl("apply", "-f", "-", stdin=json.dumps(obj), check=check)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        result = self.kubectl("get", "odmjob", name, "-n", namespace, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def list(self, namespace: str) -> dict[str, dict[str, Any]]:
        """Every ODMJob of the namespace by name, from one LIST: a consistent snapshot at one resourceVersion."""
        result = self.kubectl("get", "odmjobs", "-n", namespace, "-o", "json")
        return {item["metadata"]["name"]: item for item in json.loads(result.stdout)["items"]}

    def eventually(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        """Poll ``check`` until it returns something truthy (failing fast if the operator died); the one
        polling loop of the e2e tests."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            self._check_operator()
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what} after {timeout}s")
            time.sleep(POLL_SECONDS)

    def wait_phase(self, namespace: str, name: str, *phases: str, timeout: float = 60) -> dict[str, Any]:
        last: list[dict[str, Any] | None] = [None]

        def reached() -> dict[str, Any] | None:
            last[0] = self.get(namespace, name)
            obj = last[0]
            return obj if obj and (obj.get("status") or {}).get("phase") in phases else None

        try:
            return self.eventually(reached, timeout, f"{namespace}/{name} not in {phases}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {json.dumps(last[0], indent=1)}") from None

    def wait_gone(self, namespace: str, name: str, timeout: float = 30) -> None:
        self.eventually(
            lambda: self.get(namespace, name) is None, timeout, f"{namespace}/{name} still exists"
        )

    def _check_operator(self) -> None:
        died = self.stack.operator_died()
        if died is not None:
            raise AssertionError(f"the operator exited:\n{died}")

    # ----- AWS -------------------------------------------------------------------------------------------------

    def put_dataset(self, prefix: str, images: int) -> str:
        """Upload ``images`` tiny JPEGs under s3://odm-sandbox-input/PREFIX/ and return that URI."""
        for i in range(images):
            self.s3.put_object(
                Bucket="odm-sandbox-input", Key=f"{prefix}/IMG_{i:04d}.JPG", Body=b"\xff\xd8jpeg"
            )
        return f"s3://odm-sandbox-input/{prefix}/"

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.stack.aws.control_url + path, data=data, method="POST" if data else "GET"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def calls(self) -> dict[str, int]:
        return self.control("/calls")["calls"]

    def tasks_of(self, uid: str, cluster: str = "odm") -> list[dict[str, Any]]:
        """The job's tasks, running and stopped. ListTasks takes startedBy only alone (and then lists RUNNING
        ones), so the cluster's tasks are listed by desired status and picked by startedBy."""
        arns: list[str] = []
        pages = self.ecs.get_paginator("list_tasks")
        for desired in ("RUNNING", "STOPPED"):
            for page in pages.paginate(cluster=cluster, desiredStatus=desired):
                arns += page["taskArns"]
        arns, tasks = sorted(set(arns)), []
        for start in range(0, len(arns), 100):
            batch = arns[start : start + 100]
            tasks += self.ecs.describe_tasks(cluster=cluster, tasks=batch, include=["TAGS"])["tasks"]
        return [t for t in tasks if t.get("startedBy") == f"odm/{uid}"]

    def quiet(self, timeout: float = 30) -> None:
        """Wait until the agent runs no task, so AWS call counts are not moved by other tests' jobs."""
        assert self.stack.aws.wait_idle(timeout), "the simulated ECS agent still runs tasks"


# Namespace policies the operator runs with in the e2e session (tests/e2e/test_namespace_policy.py).
POLICIES = {
    "restricted": {
        "allowed_images": ["opendronemap/odm:3.*"],
        "allowed_input_prefixes": ["s3://odm-sandbox-input/small/"],
        "allowed_output_prefixes": ["s3://odm-sandbox-output/restricted/"],
        "allowed_task_roles": ["arn:aws:iam::123456789012:role/odm-restricted-*"],
        "max_cpu": 4,
        "max_memory": "16Gi",
        "spot_allowed": False,
    },
    "quota": {"max_concurrent_jobs": 2},
    # The README's recommended multi-tenant policy, one per team (tests/e2e/test_multi_tenant.py).
    **{
        team: {
            "allowed_input_prefixes": [f"s3://odm-sandbox-input/{team}/"],
            "allowed_output_prefixes": [f"s3://odm-sandbox-output/{team}/"],
            "default_task_role_arn": f"arn:aws:iam::123456789012:role/odm-{team}",
            "max_cpu": 8,
            "max_memory": "32Gi",
            "max_concurrent_jobs": 4,
        }
        for team in ("team-a", "team-b")
    },
}


# Package scope: the AWS emulator is one per process (moto keeps its state in globals), so this package's
# stack stops before the next package's starts.
@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory):
    state = tmp_path_factory.mktemp("sandbox")
    settings = {
        "ODM_OPERATOR_NAMESPACE_POLICIES": json.dumps(POLICIES),
        # Closed by default: the sandbox's provider and the ones tests/e2e/test_capacity.py creates, t<N>-cp.
        "ODM_OPERATOR_ALLOWED_PROVIDERS": json.dumps(["sandbox-ec2", "t*-cp"]),
        "ODM_OPERATOR_MAX_JOB_CPU": "16",  # the largest any e2e test asks for
    }
    with Stack(state, time_scale=TIME_SCALE, settings=settings) as running:
        yield running


@pytest.fixture
def e2e(stack: Stack, tmp_path: Path) -> E2E:
    return E2E(stack, tmp_path)


def odmjob(name: str, namespace: str, dataset: str = "small", **spec: Any) -> dict[str, Any]:
    body = {
        "input": {"s3Uri": f"s3://odm-sandbox-input/{dataset}/"},
        "output": {"s3Uri": f"s3://odm-sandbox-output/{namespace}/{name}/"},
        "resources": {"cpu": 4, "memory": "16Gi"},
        "capacity": {"type": "fargate"},
    }
    body.update(spec)
    return {
        "apiVersion": "odm-operator.io/v1alpha1",
        "kind": "ODMJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }
