"""``AwsSandbox``: the AWS the operator reaches on our machines, assembled and started in-process.

moto server (ECS, EC2, Auto Scaling, SSM, S3, CloudWatch Logs, IAM) behind the sandbox middleware (call
counts, ECS throttling, fault injection), the simulated ECS agent, the seeded datasets and a control API. A
client process only needs ``env()``: the operator reaches AWS through ``AWS_ENDPOINT_URL`` and nothing else.

    with AwsSandbox(time_scale=600).start() as aws:
        boto3.client("ecs", endpoint_url=aws.endpoint_url, region_name=aws.region, ...)
"""

from __future__ import annotations

import threading
import time
from typing import Any

from moto.moto_api import state_manager
from moto.moto_api._internal.models import moto_api_backend

from . import datasets, logs_filter
from .agent import SimulatedEcsAgent
from .clock import SimClock
from .control import ControlServer
from .counters import CallCounters
from .ecs_backend import EcsBackendPatches
from .faults import FaultInjector
from .idempotency import RunTaskTokens
from .middleware import SandboxMiddleware
from .server import WsgiServerThread, moto_app
from .throttle import EcsThrottle
from .timings import Timings

# moto advances a task one state per DescribeTasks unless told otherwise; the agent owns the lifecycle.
TASK_MODEL = "ecs::task"
MANUAL_TRANSITION = {"progression": "manual", "times": 2**62}

# Credentials moto accepts; never real ones.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class AwsSandbox:
    def __init__(
        self,
        *,
        region: str = "us-east-1",
        time_scale: float = 60.0,
        timings: Timings | None = None,
        quotas: bool = True,
        seed_data: bool = True,
        seed: int = 0,
        tick_s: float = 0.05,
        host: str = "127.0.0.1",
        port: int = 0,
        control_port: int = 0,
    ) -> None:
        self.region = region
        self.seed_data = seed_data
        self.lock = threading.RLock()
        self.clock = SimClock(time_scale)
        self.counters = CallCounters()
        self.throttle = EcsThrottle(enabled=quotas)
        self.faults = FaultInjector(seed)
        self.agent = SimulatedEcsAgent(self.clock, self.lock, timings, tick_s)
        self.run_task_tokens = RunTaskTokens(self.clock.now)
        self._host, self._port, self._control_port = host, port, control_port
        self._server: WsgiServerThread | None = None
        self._control: ControlServer | None = None
        self._previous_transition: dict[str, Any] | None = None

    # Lifecycle.

    def start(self) -> AwsSandbox:
        if self._server is not None:
            return self
        logs_filter.install()  # CloudWatch's ?term OR patterns (the tracker reads stage and failure lines)
        self._previous_transition = state_manager._transitions.get(TASK_MODEL)
        state_manager.set_transition(TASK_MODEL, MANUAL_TRANSITION)
        middleware = SandboxMiddleware(
            moto_app(),
            lock=self.lock,
            counters=self.counters,
            throttle=self.throttle,
            faults=self.faults,
            ecs_patches=EcsBackendPatches(self.agent),
            run_task_tokens=self.run_task_tokens,
            on_reset=self.reset,
            default_region=self.region,
        )
        self._server = WsgiServerThread(middleware, self._host, self._port)
        self._server.start()
        if self.seed_data:
            with self.lock:
                datasets.seed(self.region)
        self.agent.start()
        self._control = ControlServer(self, self._host, self._control_port)
        self._control.start()
        return self

    def stop(self) -> None:
        if self._control is not None:
            self._control.stop()
            self._control = None
        self.agent.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._previous_transition is None:
            state_manager.unset_transition(TASK_MODEL)
        else:
            state_manager.set_transition(TASK_MODEL, self._previous_transition)

    def __enter__(self) -> AwsSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to a fresh account: moto's reset, no counters, rules or tasks, the seeded data again."""
        with self.lock:
            moto_api_backend.reset()
            state_manager.set_transition(TASK_MODEL, MANUAL_TRANSITION)
            self.counters.reset()
            self.throttle.reset()
            self.faults.clear()
            self.agent.reset()
            self.run_task_tokens.clear()
            if self.seed_data:
                datasets.seed(self.region)

    # What clients need.

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "start() first"
        return self._server.url

    @property
    def control_url(self) -> str:
        assert self._control is not None, "start() first"
        return self._control.url

    def env(self) -> dict[str, str]:
        """Environment variables that point an AWS SDK or CLI process at this sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **FAKE_CREDENTIALS,
        }

    # Steering.

    def set_timings(self, timings: Timings) -> None:
        """Change simulated durations (e.g. a shorter provisioning timeout) for what happens from now on."""
        with self.lock:
            self.agent.set_timings(timings)

    def interrupt(self, task_arn: str) -> bool:
        with self.lock:
            return self.agent.interrupt(task_arn)

    def find_job_task(self, namespace: str, name: str) -> str | None:
        with self.lock:
            return self.agent.find_task(namespace, name)

    def interrupt_job(self, namespace: str, name: str) -> str | None:
        """Spot-interrupt the running task of an ODMJob; its ARN, or None when it has none."""
        with self.lock:
            arn = self.agent.find_task(namespace, name)
            return arn if arn is not None and self.agent.interrupt(arn) else None

    def fail_odm(self, namespace: str, name: str, exit_code: int | str, stage: str | None = None) -> None:
        """Make the next ODM run of this ODMJob fail with ``exit_code`` (or "disk-full") in ``stage``."""
        from .odm_run import Failure

        with self.lock:
            self.agent.odm_failures.setdefault(f"{namespace}/{name}", []).append(Failure(exit_code, stage))

    def agent_status(self) -> dict[str, Any]:
        with self.lock:
            return {
                "activeTasks": self.agent.active_tasks,
                "waitingForCapacity": self.agent.waiting_for_capacity,
                "instances": len(self.agent.instances()),
                "simulatedSeconds": round(self.clock.now(), 1),
                "errors": list(self.agent.errors),
            }

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until the agent runs no task; True if it got there within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if self.agent.active_tasks == 0:
                    return True
            time.sleep(self.agent.tick_s)
        return False
