"""Prometheus metrics: what the operator did (jobs, attempts, AWS calls) and how it is coping (throttles, polls,
errors), served on the metrics port (setting ``metrics_port``) at ``/metrics``.

The rest of the operator reports through a handful of functions here, each called from one place, so that the
metric names and labels live in one file (the chart's Grafana dashboard and the e2e test read them):

- ``instrument(client)``: botocore event hooks on each shared boto3 client count every logical call by service,
  operation and outcome, time it, and count throttled responses (each one, before botocore retries it);
- ``observe_job(body, old, new)``: every status the runtime computes (phases, attempts, finished jobs);
- ``timed_handler(name)`` and ``timed_poll``: decorators that time reconcile passes and tracker polls and count
  the errors that escape them.

Labels are bounded: phases and reasons are the CRD's enumerations, operations are the few the gateways call, and
an outcome is ``success`` or the AWS error code.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar, get_args

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, Info, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from . import __version__
from .api.types import FINISHED_PHASES, Phase

log = logging.getLogger(__name__)
PREFIX = "odm_operator"
PHASES: tuple[str, ...] = get_args(Phase)
SUCCESS = "success"
# Error codes that mean "slow down", across the protocols of the services we call (botocore retries them).
THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
    }
)
# ODM runs take minutes to days; the buckets span 1 minute to 2 days (activeDeadlineSeconds' usual range).
JOB_DURATION_BUCKETS = (60, 300, 600, 1800, 3600, 7200, 14400, 28800, 57600, 86400, 172800, float("inf"))
# One AWS call, retries included: tens of milliseconds normally, seconds when botocore backs off.
AWS_CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf"))
# A tracker poll is ceil(active/100) DescribeTasks calls per cluster.
POLL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf"))
_CONTEXT_KEY = "odm_operator_started"

BUILD_INFO = Info(f"{PREFIX}_build", "The odm-operator version serving these metrics.")
BUILD_INFO.info({"version": __version__})
JOBS_FINISHED = Counter(
    f"{PREFIX}_jobs_finished",
    "ODMJobs that reached a finished phase (Succeeded, Failed, Cancelled), by phase and reason.",
    ["phase", "reason"],
)
JOB_DURATION = Histogram(
    f"{PREFIX}_job_duration_seconds",
    "Time from a job's first attempt (or creation, when it never started) to its completion, by final phase.",
    ["phase"],
    buckets=JOB_DURATION_BUCKETS,
)
ATTEMPTS = Counter(
    f"{PREFIX}_attempts", "Attempts recorded in ODMJob status (one per RunTask, or per failure to start one)."
)
AWS_CALLS = Counter(
    f"{PREFIX}_aws_calls",
    "AWS API calls (botocore's retries included in one call), by service, operation and outcome "
    "(success or the AWS error code).",
    ["service", "operation", "outcome"],
)
AWS_CALL_DURATION = Histogram(
    f"{PREFIX}_aws_call_duration_seconds",
    "Duration of AWS API calls, retries and backoff included.",
    ["service", "operation"],
    buckets=AWS_CALL_BUCKETS,
)
AWS_THROTTLES = Counter(
    f"{PREFIX}_aws_throttles",
    "Throttled AWS responses (each attempt; botocore retries them with backoff), by service and operation.",
    ["service", "operation"],
)
TRACKER_POLL = Histogram(
    f"{PREFIX}_tracker_poll_duration_seconds",
    "Duration of one poll of the shared tracker (DescribeTasks for every tracked task).",
    buckets=POLL_BUCKETS,
)
AWS_RETRYING = Gauge(
    f"{PREFIX}_jobs_aws_retrying",
    "Jobs whose passes keep failing on AWS errors retried without counting (condition AwsRetrying=True).",
)
TRACKED_TASKS = Gauge(f"{PREFIX}_tracked_tasks", "ECS tasks the shared tracker polls.")
HANDLER_DURATION = Histogram(
    f"{PREFIX}_reconcile_duration_seconds",
    "Duration of one reconcile or finalize pass over a job.",
    ["handler"],
    buckets=AWS_CALL_BUCKETS,
)
HANDLER_ERRORS = Counter(
    f"{PREFIX}_reconcile_errors",
    "Reconcile or finalize passes that ended in an error (kopf retries them), by handler and error type "
    "(TransientError: AWS said not now).",
    ["handler", "error"],
)


class _JobPhases(Collector):
    """``odm_operator_jobs{phase}``: the ODMJobs this operator handles, by phase, computed at scrape time."""

    def __init__(self) -> None:
        self._phases: dict[str, str] = {}
        self._lock = threading.Lock()

    def set(self, uid: str, phase: str) -> None:
        with self._lock:
            self._phases[uid] = phase

    def forget(self, uid: str) -> None:
        with self._lock:
            self._phases.pop(uid, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            counts = dict.fromkeys(PHASES, 0)
            for phase in self._phases.values():
                counts[phase] = counts.get(phase, 0) + 1
        family = GaugeMetricFamily(
            f"{PREFIX}_jobs", "ODMJobs handled by this operator, by phase.", labels=["phase"]
        )
        for phase, count in counts.items():
            family.add_metric([phase], count)
        yield family


JOBS = _JobPhases()
REGISTRY.register(JOBS)

_server_lock = threading.Lock()
_server_port: int | None = None


# Loopback unless configured: the endpoint has no authentication (the Helm chart binds the pod IP instead).
DEFAULT_BIND_ADDRESS = "127.0.0.1"


def serve(port: int, addr: str = DEFAULT_BIND_ADDRESS) -> int | None:
    """Serve ``/metrics`` on ``port`` (once per process); 0 turns it off. Returns the port, or None."""
    global _server_port
    if not port:
        return None
    with _server_lock:
        if _server_port is None:
            try:
                start_http_server(port, addr)
            except OSError as exc:  # metrics are not worth stopping the operator for: say so loudly
                log.error("Could not serve metrics port=%d: %s", port, exc)
                return None
            _server_port = port
            log.info("Serving metrics port=%d path=/metrics", port)
        return _server_port


# ----- jobs ----------------------------------------------------------------------------------------------------


def observe_job(body: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> None:
    """Record a status the runtime computed for a job (called for every status, written or not)."""
    meta = body.get("metadata") or {}
    phase = new.get("phase")
    if phase:
        JOBS.set(meta.get("uid", ""), phase)
    added = len(new.get("attempts") or []) - len(old.get("attempts") or [])
    if added > 0:
        ATTEMPTS.inc(added)
    if phase in FINISHED_PHASES and old.get("phase") != phase:
        JOBS_FINISHED.labels(phase, new.get("reason") or phase).inc()
        started = _time(new.get("startTime")) or _time(meta.get("creationTimestamp"))
        completed = _time(new.get("completionTime"))
        if started and completed:
            JOB_DURATION.labels(phase).observe(max(0.0, (completed - started).total_seconds()))


def forget_job(uid: str) -> None:
    """The job is gone (deleted): it no longer counts in ``odm_operator_jobs``."""
    JOBS.forget(uid)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# ----- handlers and tracker ------------------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def timed_handler(name: str) -> Callable[[F], F]:
    """Time a runtime entry point and count the exceptions that escape it (kopf retries those)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                HANDLER_ERRORS.labels(name, type(exc).__name__).inc()
                raise
            finally:
                HANDLER_DURATION.labels(name).observe(time.monotonic() - started)

        return wrapper  # type: ignore[return-value]

    return decorate


def timed_poll(fn: F) -> F:
    """Time ``Tracker.poll`` and publish how many tasks the tracker watches."""

    @functools.wraps(fn)
    def wrapper(tracker: Any, *args: Any, **kwargs: Any) -> Any:
        with TRACKER_POLL.time():
            try:
                return fn(tracker, *args, **kwargs)
            finally:
                TRACKED_TASKS.set(tracker.active)

    return wrapper  # type: ignore[return-value]


# ----- AWS calls -----------------------------------------------------------------------------------------------


def instrument(client: Any) -> Any:
    """Count and time every call of a boto3 client through botocore's events; returns the client.

    ``before-call``/``after-call`` fire once per logical call (around botocore's retries), ``after-call-error``
    when a call ends in an exception without a response (connection errors), ``needs-retry`` once per HTTP
    attempt, which is where a throttled response is seen before botocore retries it.
    """
    service = client.meta.service_model.service_name
    events = client.meta.events

    def before_call(context: dict[str, Any], **_: Any) -> None:
        context[_CONTEXT_KEY] = time.monotonic()

    def after_call(event_name: str, http_response: Any, parsed: dict, context: dict, **_: Any) -> None:
        status = http_response.status_code
        outcome = SUCCESS if status < 300 else (parsed or {}).get("Error", {}).get("Code") or f"HTTP{status}"
        _finish(service, _operation(event_name), outcome, context)

    def after_call_error(event_name: str, exception: BaseException, context: dict, **_: Any) -> None:
        _finish(service, _operation(event_name), type(exception).__name__, context)

    def needs_retry(event_name: str, response: Any = None, **_: Any) -> None:
        if response is not None:
            code = (response[1] or {}).get("Error", {}).get("Code")
            if code in THROTTLE_CODES:
                AWS_THROTTLES.labels(service, _operation(event_name)).inc()

    events.register("before-call", before_call, unique_id=f"{PREFIX}-before-call")
    events.register("after-call", after_call, unique_id=f"{PREFIX}-after-call")
    events.register("after-call-error", after_call_error, unique_id=f"{PREFIX}-after-call-error")
    events.register("needs-retry", needs_retry, unique_id=f"{PREFIX}-needs-retry")
    return client


def _operation(event_name: str) -> str:
    return event_name.rsplit(".", 1)[-1]


def _finish(service: str, operation: str, outcome: str, context: dict[str, Any]) -> None:
    AWS_CALLS.labels(service, operation, outcome).inc()
    started = context.get(_CONTEXT_KEY)
    if started is not None:
        AWS_CALL_DURATION.labels(service, operation).observe(time.monotonic() - started)
