"""A small HTTP API to steer the AWS sandbox from another process (the CLI, e2e tests, a curious human).

GET  /health     -> {"ok": true}
GET  /calls      -> {"calls": {op: n}, "throttled": {op: n}, "faults": {op: n}, "total": n}
GET  /agent      -> {"activeTasks": n, "waitingForCapacity": n, "instances": n, "errors": [...]}
POST /interrupt  {"namespace": ns, "name": job} | {"taskArn": arn} -> spot-interrupt the running task
GET  /faults, POST /faults {"rules": [{"operation": "ecs:RunTask", "code": ..., "status": 500, "count": 2}],
                            "seed": 1} -> replace the fault rules
POST /odm-failures {"namespace": ns, "name": job, "exitCode": 139 | "disk-full", "stage": "opensfm"}
                 -> the job's next ODM run fails that way (exit codes as ODM's stages/odm_app.py reports them)
GET  /event-faults, POST /event-faults {"drop": 0.2, "duplicate": 0.2, "reorder": 0.2, "seed": 1}
                 -> ECS Task State Change events are lost, delivered twice or out of order with these
                    probabilities (task_events.py); GET shows them with the counts of what was done
POST /pull-limit {"enabled": true} -> Docker Hub pulls answer toomanyrequests (the task fails to start with
                 CannotPullContainerError) until set to false
POST /reset      -> fresh AWS state (moto reset, counters, agent, seeded data)
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .faults import FaultRule
from .task_events import EventFaults

if TYPE_CHECKING:
    from .sandbox import AwsSandbox

# Request bodies above this are refused: the API takes small JSON documents only.
MAX_BODY_BYTES = 1 << 20


class ControlServer:
    def __init__(self, sandbox: AwsSandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        handler = type("Handler", (_Handler,), {"sandbox": sandbox})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="odm-sandbox-control",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class _Handler(BaseHTTPRequestHandler):
    sandbox: AwsSandbox

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/health":
            self._reply(200, {"ok": True})
        elif self.path == "/calls":
            self._reply(200, self.sandbox.counters.snapshot())
        elif self.path == "/agent":
            self._reply(200, self.sandbox.agent_status())
        elif self.path == "/faults":
            self._reply(200, {"rules": self.sandbox.faults.rules()})
        elif self.path == "/event-faults":
            self._reply(200, self.sandbox.event_status())
        else:
            self._reply(404, {"error": f"no such endpoint: GET {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        try:
            body = self._json_body()
            if self.path == "/interrupt":
                self._interrupt(body)
            elif self.path == "/faults":
                rules = [FaultRule.from_dict(rule) for rule in body.get("rules", [])]
                self.sandbox.faults.set_rules(rules, body.get("seed"))
                self._reply(200, {"rules": self.sandbox.faults.rules()})
            elif self.path == "/event-faults":
                seed = body.get("seed")
                if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                    raise ValueError("seed must be an integer")
                self.sandbox.task_events.set_faults(EventFaults.from_dict(body), seed)
                self._reply(200, self.sandbox.event_status())
            elif self.path == "/odm-failures":
                self._odm_failure(body)
            elif self.path == "/pull-limit":
                enabled = body.get("enabled")
                if not isinstance(enabled, bool):
                    raise ValueError('give {"enabled": true} or {"enabled": false}')
                self.sandbox.set_pull_limit(enabled)
                self._reply(200, {"pullLimited": enabled})
            elif self.path == "/reset":
                self.sandbox.reset()
                self._reply(200, {"ok": True})
            else:
                self._reply(404, {"error": f"no such endpoint: POST {self.path}"})
        except (ValueError, TypeError) as exc:
            self._reply(400, {"error": str(exc)})

    def _interrupt(self, body: dict[str, Any]) -> None:
        if "taskArn" in body:
            arn = body["taskArn"]
        elif "namespace" in body and "name" in body:
            arn = self.sandbox.find_job_task(body["namespace"], body["name"])
            if arn is None:
                self._reply(404, {"error": f"no running task for ODMJob {body['namespace']}/{body['name']}"})
                return
        else:
            raise ValueError('give {"taskArn": ...} or {"namespace": ..., "name": ...}')
        if not self.sandbox.interrupt(arn):
            self._reply(404, {"error": f"task {arn} is not running"})
            return
        self._reply(200, {"taskArn": arn, "interrupted": True})

    def _odm_failure(self, body: dict[str, Any]) -> None:
        code = body.get("exitCode")
        if (
            not (isinstance(code, int) and not isinstance(code, bool) and 0 < code < 256)
            and code != "disk-full"
        ):
            raise ValueError('exitCode must be an exit status 1..255 or "disk-full"')
        if not isinstance(body.get("namespace"), str) or not isinstance(body.get("name"), str):
            raise ValueError('give {"namespace": ..., "name": ..., "exitCode": ...}')
        stage = body.get("stage")
        self.sandbox.fail_odm(
            body["namespace"], body["name"], code, stage if isinstance(stage, str) else None
        )
        self._reply(200, {"queued": True})

    def _json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError("request body too large")
        raw = self.rfile.read(length) if length else b"{}"
        value = json.loads(raw or b"{}")
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
