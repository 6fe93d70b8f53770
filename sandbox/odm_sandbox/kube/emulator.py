"""`KubeEmulator`: the Kubernetes API emulator as something to start, point clients at, and stop.

Tests and the sandbox need a Kubernetes API that the real clients (kopf, the kubernetes client, kubectl) can
use unchanged, without a cluster: so it listens on 127.0.0.1 over plain HTTP and writes a kubeconfig. It runs
either in a background thread with its own event loop (`start()`/`stop()`, or `with KubeEmulator() as k8s`),
which is what synchronous clients and subprocesses need, or inside the caller's running loop
(`async with KubeEmulator() as k8s`), which is cheaper for async tests.

The cluster starts like a fresh one: namespaces default, kube-system, kube-public and kube-node-lease; the
built-in resources; kopf's peering CRDs; and the CRDs given (by default, the repository's ODMJob CRD).
"""

from __future__ import annotations

import asyncio
import copy
import pathlib
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import aiohttp.web
import yaml

from .crud import WriteOptions
from .faults import Faults
from .resources import Registry, builtin_resources, load_yaml_documents, peering_crds
from .server import ApiServer
from .store import DEFAULT_HISTORY, Store

T = TypeVar("T")

# The checked-out repository (the sandbox is installed editable from it): sandbox/odm_sandbox/kube/ -> the top.
REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
DEFAULT_CRD = REPO_ROOT / "crds" / "odmjobs.odm-operator.io.yaml"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
START_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 2.0


class KubeEmulator:
    """A Kubernetes API server emulator on 127.0.0.1.

    `crd_paths`: YAML files with CustomResourceDefinitions to serve (default: the repository's ODMJob CRD if
    present); `crds`: CRD objects given directly. `seed` makes uids and generated names reproducible and seeds
    the fault injector. `enforce_namespaces=False` lets objects be created in namespaces that do not exist
    (a real server refuses that with 404).
    """

    def __init__(
        self,
        crd_paths: Iterable[str | pathlib.Path] | None = None,
        *,
        crds: Sequence[dict[str, Any]] = (),
        namespaces: Sequence[str] = DEFAULT_NAMESPACES,
        seed: int | None = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        history: int = DEFAULT_HISTORY,
        enforce_namespaces: bool = True,
        peering: bool = True,
    ) -> None:
        if crd_paths is None:
            crd_paths = [DEFAULT_CRD] if DEFAULT_CRD.exists() else []
        self.host = host
        self.port = port
        self.faults = Faults(seed)
        self.registry = Registry()
        self.store = Store(history)
        self.api = ApiServer(
            self.registry, self.store, self.faults, seed=seed, enforce_namespaces=enforce_namespaces
        )
        for res in builtin_resources():
            self.registry.add(res)
        documents = (peering_crds() if peering else []) + load_yaml_documents(crd_paths) + list(crds)
        self._bootstrap(documents, namespaces)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._site_server: asyncio.AbstractServer | None = None
        self._web_server: aiohttp.web.Server | None = None

    def _bootstrap(self, crds: list[dict[str, Any]], namespaces: Sequence[str]) -> None:
        ns_resource = self.registry.find("", "v1", "namespaces")
        crd_resource = self.registry.find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert ns_resource is not None and crd_resource is not None
        for name in namespaces:
            self.api.crud.create(ns_resource, None, {"metadata": {"name": name}}, WriteOptions())
        for crd in crds:
            self.api.crud.create(crd_resource, None, crd, WriteOptions())

    # --- addresses ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._site_server is None:
            raise RuntimeError("The emulator is not running")
        return f"http://{self.host}:{self.port}"

    def kubeconfig(self, namespace: str = "default") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
                }
            ],
            "current-context": "emulator",
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | pathlib.Path, namespace: str = "default") -> pathlib.Path:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(namespace), sort_keys=False))
        return path

    # --- in the caller's loop ------------------------------------------------------------------------------

    async def astart(self) -> KubeEmulator:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._web_server = aiohttp.web.Server(self.api.frontend, access_log=None)
        self._site_server = await self._loop.create_server(self._web_server, self.host, self.port)
        self.port = self._site_server.sockets[0].getsockname()[1]
        self.api.address = f"{self.host}:{self.port}"
        return self

    async def astop(self) -> None:
        if self._site_server is None:
            return
        self.store.close_subscriptions()
        self._site_server.close()
        assert self._web_server is not None
        # Idle keep-alive connections would hold aiohttp's graceful shutdown for the whole timeout.
        for conn in list(self._web_server.connections):
            if not getattr(conn, "_request_in_progress", False):
                conn.force_close()
        await self._web_server.shutdown(SHUTDOWN_TIMEOUT)
        await self._site_server.wait_closed()
        self._site_server = None

    async def __aenter__(self) -> KubeEmulator:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()

    # --- in a thread of its own ----------------------------------------------------------------------------

    def start(self) -> KubeEmulator:
        """Serve from a daemon thread with its own event loop; returns once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("The emulator is already started")
        self._thread = threading.Thread(target=self._run, name="kube-emulator", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT):
            raise RuntimeError("The Kubernetes emulator did not start in time")
        if self._startup_error is not None:
            raise RuntimeError("The Kubernetes emulator failed to start") from self._startup_error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve_until_stopped())
        finally:
            loop.close()

    async def _serve_until_stopped(self) -> None:
        try:
            await self.astart()
        except BaseException as exc:
            self._startup_error = exc
            self._started.set()
            return
        self._started.set()
        assert self._stopping is not None
        await self._stopping.wait()
        await self.astop()

    def stop(self) -> None:
        if self._thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        self._thread.join(START_TIMEOUT)
        self._thread = None

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test helpers (safe to call from any thread) ---------------------------------------------------------

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the emulator's loop (where the state lives) and return its result."""
        loop = self._loop
        if loop is None or self._thread is None or threading.current_thread() is self._thread:
            return fn()
        try:
            if asyncio.get_running_loop() is loop:
                return fn()
        except RuntimeError:
            pass

        async def _call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(_call(), loop).result(START_TIMEOUT)

    def drop_watches(self, resource: str | None = None) -> int:
        """Close open watch streams (of one plural, or all); clients see them end and must re-watch."""
        storages = None
        if resource is not None:
            storages = {r.storage for r in self.registry if r.plural == resource}

        def _drop() -> int:
            if storages is None:
                return self.store.close_subscriptions()
            return sum(self.store.close_subscriptions(s) for s in storages)

        return self.call(_drop)

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Stored objects of a resource (all its versions share them), as deep-enough copies."""
        storages = {r.storage for r in self.registry if r.plural == plural}
        if not storages:
            raise KeyError(f"no such resource: {plural}")
        return self.call(lambda: [copy.deepcopy(o) for s in storages for o in self.store.list(s, namespace)])

    def write_counts(self, plural: str | None = None) -> dict[tuple[str, str, str, str, str], int]:
        """Write requests so far by (plural, namespace, name, subresource, verb); name is "" for creates."""
        return self.call(
            lambda: {k: n for k, n in self.api.writes.items() if plural is None or k[0] == plural}
        )

    @property
    def unexpected_errors(self) -> list[str]:
        """Tracebacks of requests the emulator failed on (500s that a real server would not have sent)."""
        return list(self.api.unexpected_errors)

    @property
    def requests(self) -> list[Any]:
        """The last requests the emulator answered (frontend.py), oldest first: for debugging a failing test."""
        return list(self.api.frontend.requests)
