"""Gateway fixtures: one local stack (with its gateway, as `make demo` runs it) for the module's tests, the real
pyodm client pointed at it, and a second gateway in-process with small limits for the bad-input cases."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from aiohttp import web
from pyodm import Node

from odm_operator import API_GROUP, API_VERSION, PLURAL
from odm_operator.aws.nodeodm.console_logs import ConsoleLogs
from odm_operator.aws.nodeodm.staging import Staging
from odm_operator.gateway.app import Gateway
from odm_operator.gateway.console import Console
from odm_operator.gateway.settings import GatewaySettings
from odm_operator.gateway.store import TaskStore
from odm_operator.sandbox.stack import (
    GATEWAY_NAMESPACE,
    GATEWAY_OUTPUT_BUCKET,
    GATEWAY_STAGING_BUCKET,
    Stack,
)

# Simulated seconds per real second: a 5-image Fargate job (~4 simulated minutes) takes ~4 s, long enough to
# cancel it while ODM runs, short enough for the module to stay well under a minute.
TIME_SCALE = 60.0
POLL_SECONDS = 0.05


def eventually(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {value!r})")
        time.sleep(POLL_SECONDS)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("gateway-sandbox"), time_scale=TIME_SCALE) as running:
        yield running


@pytest.fixture(scope="session")
def node(stack: Stack) -> Node:
    env = dict(
        line.removeprefix("export ").split("=", 1)
        for line in (stack.state_dir / "gateway.env").read_text().splitlines()
    )
    return Node.from_url(f"{env['ODM_GATEWAY_URL']}?token={env['ODM_GATEWAY_TOKEN']}")


@pytest.fixture(scope="session")
def custom(stack: Stack) -> Any:
    return kubernetes.client.CustomObjectsApi(kubernetes.config.new_client_from_config(str(stack.kubeconfig)))


def jobs_of(custom: Any, uuid: str) -> list[dict[str, Any]]:
    answer = custom.list_namespaced_custom_object(
        API_GROUP,
        API_VERSION,
        GATEWAY_NAMESPACE,
        PLURAL,
        label_selector=f"odm-operator.io/nodeodm-task={uuid}",
    )
    return answer["items"]


def keys_under(stack: Stack, bucket: str, prefix: str) -> list[str]:
    answer = stack.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in answer.get("Contents", [])]


def task_keys(stack: Stack, uuid: str) -> list[str]:
    """Every S3 object of a task: staged uploads and products."""
    return keys_under(stack, GATEWAY_STAGING_BUCKET, f"uploads/{uuid}/") + keys_under(
        stack, GATEWAY_OUTPUT_BUCKET, f"tasks/{uuid}/"
    )


@pytest.fixture
def images(tmp_path: Path) -> Callable[[int], list[str]]:
    def make(count: int, size: int = 2048) -> list[str]:
        paths = []
        for i in range(count):
            path = tmp_path / f"IMG_{i:04d}.JPG"
            path.write_bytes(bytes([i % 251]) * size)
            paths.append(str(path))
        return paths

    return make


class LocalGateway:
    """A gateway served from a thread of the test process, with settings of the test's choosing."""

    def __init__(self, stack: Stack, **settings: Any):
        self.now = time.time()  # the gateway's wall clock; a test moves it forward to expire a session
        defaults = {
            "namespace": GATEWAY_NAMESPACE,
            "staging_uri": f"s3://{GATEWAY_STAGING_BUCKET}/local/",
            "output_uri": f"s3://{GATEWAY_OUTPUT_BUCKET}/local/",
            "token": "local-gateway-token",
        }
        self.settings = GatewaySettings(**{**defaults, **settings})
        api = kubernetes.config.new_client_from_config(str(stack.kubeconfig))
        store = TaskStore(api, self.settings.namespace, self.settings.task_list_refresh_seconds)
        console = Console(
            ConsoleLogs(stack.client("logs")),
            self.settings.logs_calls_per_second,
            self.settings.console_refresh_seconds,
            self.settings.console_cache_tasks,
        )
        self.gateway = Gateway(
            self.settings, store, Staging(stack.client("s3")), console, clock=lambda: self.now
        )
        self.loop = asyncio.new_event_loop()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._runner = web.AppRunner(self.gateway.app())
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._runner.setup())
        self.loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self.loop.run_forever()

    def start(self) -> LocalGateway:
        self._thread.start()
        eventually(lambda: _answers(self.port), 10, "the local gateway to listen")
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
