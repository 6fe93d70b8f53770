"""moto's server app on 127.0.0.1 in a thread, behind the sandbox middleware.

``moto.server.ThreadedMotoServer`` builds ``DomainDispatcherApplication(create_backend_app)`` and serves it;
we build the same app, wrap it (middleware.py) and serve it with werkzeug ourselves, with a short poll
interval so ``stop()`` returns in tens of milliseconds instead of half a second, and with request logging off.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

# How often the serving loop checks for shutdown.
SHUTDOWN_POLL_S = 0.02


# How long stop() waits for request threads once their connections are shut.
THREAD_JOIN_TIMEOUT_S = 2.0


class QuietMotoRequestHandler(MotoRequestHandler):
    """moto's request handler without werkzeug's access log, tracking its connection so stop() can close it.

    boto3 keeps connections alive, so a request thread would otherwise wait on an idle socket after shutdown.
    """

    def setup(self) -> None:
        super().setup()
        with self.server.sandbox_lock:  # type: ignore[attr-defined]
            connections = self.server.sandbox_connections  # type: ignore[attr-defined]
            connections[self.connection] = threading.current_thread()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.sandbox_lock:  # type: ignore[attr-defined]
                self.server.sandbox_connections.pop(self.connection, None)  # type: ignore[attr-defined]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def moto_app() -> Any:
    return DomainDispatcherApplication(create_backend_app)


class WsgiServerThread:
    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, name: str = "odm-sandbox-aws"
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._name = name
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = make_server(
            self._host, self._port, self._app, threaded=True, request_handler=QuietMotoRequestHandler
        )
        self._server.sandbox_lock = threading.Lock()  # type: ignore[attr-defined]
        self._server.sandbox_connections = {}  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_S},
            name=self._name,
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        with self._server.sandbox_lock:  # type: ignore[attr-defined]
            open_connections = list(self._server.sandbox_connections.items())  # type: ignore[attr-defined]
        for connection, _ in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for _, thread in open_connections:
            thread.join(THREAD_JOIN_TIMEOUT_S)
        self._server = None
        self._thread = None
