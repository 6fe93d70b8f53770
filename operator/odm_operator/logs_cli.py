"""`odm-operator logs NAME [-n NAMESPACE] [-f] [--attempt N] [-c CONTAINER]`: a job's log, from CloudWatch Logs.

kubectl cannot show an ODMJob's log: its containers run on ECS, not in pods, and ``kubectl logs`` knows only its
own kinds (the ask of kuberay #1201 for RayJobs). So the project's CLI does it the way a person would by hand: it
reads the job with the caller's kubeconfig (as kubectl does), takes the log group and stream the operator recorded
in ``status.aws`` (an earlier attempt's stream from its ``attempts[].taskArn``), and reads the stream with
GetLogEvents using the caller's own AWS credentials (the standard AWS environment, as the AWS CLI does). ``-f``
follows the stream while the job runs, moves on to the next attempt's stream when a retry starts, and exits once
the job has ended and its log is drained.

Every failure is one line on stderr and exit status 1: a job that does not exist, one that has not started a
task, a log the caller may not read.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import API_GROUP, API_VERSION, KIND, PLURAL, contract

EXIT_OK, EXIT_FAILED = 0, 1
FINISHED = frozenset({"Succeeded", "Failed", "Cancelled"})
# How often -f looks for new lines and re-reads the job. GetLogEvents allows 25 requests per second per account
# and Region (CloudWatch Logs quotas); one reader every 2 s leaves that to everyone else.
FOLLOW_INTERVAL_SECONDS = 2.0
# After the job ended, lines still arriving (CloudWatch ingests them within seconds) are read until one read
# finds none, at most this many times.
FINAL_READS = 5


class LogsError(Exception):
    """What the user is told, in one line."""


@dataclass(frozen=True)
class Stream:
    attempt: int
    group: str
    name: str
    region: str | None  # from the task ARN, for a caller whose environment names no Region


def add_command(sub: Any) -> None:
    p = sub.add_parser(
        "logs",
        help="print a job's log from CloudWatch Logs (kubeconfig and the standard AWS environment)",
        description="Print the log of an ODMJob's ODM container (or another of its containers) from CloudWatch "
        "Logs. The job is read with your kubeconfig, the log with your AWS credentials (logs:GetLogEvents on "
        "the job log group).",
    )
    p.add_argument("name", metavar="NAME", help="the ODMJob")
    p.add_argument(
        "-n", "--namespace", default=None, help="its namespace (default: the kubeconfig context's)"
    )
    p.add_argument(
        "-f", "--follow", action="store_true", help="wait for the job to start, follow it, exit when it ends"
    )
    p.add_argument("--attempt", type=int, default=None, help="attempt number (default: the latest)")
    p.add_argument(
        "-c",
        "--container",
        default=contract.ODM,
        choices=contract.CONTAINERS,
        help="which container's log (default: odm)",
    )
    p.add_argument("--timestamps", action="store_true", help="prefix each line with its time (RFC 3339)")
    p.add_argument(
        "--interval", type=float, default=FOLLOW_INTERVAL_SECONDS, help=argparse.SUPPRESS
    )  # the follow poll interval; tests shorten it
    p.set_defaults(func=cmd_logs)


def cmd_logs(args: argparse.Namespace) -> int:
    try:
        reader = _JobReader(args.namespace)
        return follow_logs(
            lambda: reader.get(args.name),
            _aws_reader(),
            args.attempt,
            args.container,
            args.follow,
            args.timestamps,
            args.interval,
            sys.stdout,
            sys.stderr,
        )
    except LogsError as exc:
        print(f"odm-operator logs: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK


# ----- the pure part: which stream, and when to stop ------------------------------------------------------------


def stream_of(job: dict[str, Any], attempt: int | None, container: str) -> Stream | None:
    """The log stream of ``attempt`` (None: the latest) of ``container``; None while that attempt has no task yet.
    Raises LogsError for an attempt the job does not have or a status that records no log stream."""
    meta, status = job["metadata"], job.get("status") or {}
    attempts = [a for a in status.get("attempts") or [] if a.get("number")]
    where = f"{KIND} {meta['namespace']}/{meta['name']}"
    if attempt is not None and attempt not in {a["number"] for a in attempts}:
        numbers = ", ".join(str(a["number"]) for a in attempts) or "none yet"
        raise LogsError(f"{where} has no attempt {attempt} (attempts: {numbers})")
    chosen = (
        attempts[-1]
        if attempt is None and attempts
        else next((a for a in attempts if a["number"] == attempt), None)
    )
    if chosen is None or not chosen.get("taskArn"):
        return None
    aws = status.get("aws") or {}
    recorded = aws.get("logStream")
    if not recorded or not aws.get("logGroup") or recorded.count("/") < 2:
        raise LogsError(f"{where} records no log stream in status.aws (logGroup, logStream)")
    # The awslogs driver names a stream <prefix>/<container>/<task id>; status records the current attempt's odm one.
    prefix = recorded.rsplit("/", 2)[0]
    task_arn = chosen["taskArn"]
    region = task_arn.split(":")[3] if task_arn.startswith("arn:") and task_arn.count(":") >= 5 else None
    name = f"{prefix}/{container}/{task_arn.rsplit('/', 1)[-1]}"
    return Stream(chosen["number"], aws["logGroup"], name, region or None)


def not_started(job: dict[str, Any]) -> str:
    meta, status = job["metadata"], job.get("status") or {}
    phase = status.get("phase") or "not yet accepted"
    why = f", reason {status['reason']}" if status.get("reason") and status.get("reason") != phase else ""
    message = f": {status['message']}" if status.get("message") else ""
    return (
        f"{KIND} {meta['namespace']}/{meta['name']} has not started a task yet (phase {phase}{why}{message})"
    )


def follow_logs(
    get_job: Callable[[], dict[str, Any]],
    read: Callable[[Stream, str | None], tuple[list[tuple[int, str]], str]],
    attempt: int | None,
    container: str,
    follow: bool,
    timestamps: bool,
    interval: float,
    out: Any,
    err: Any,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print the stream's lines; with ``follow``, until the job has ended and its last lines are read."""
    job = get_job()
    stream = stream_of(job, attempt, container)
    token: str | None = None
    waiting_said = False
    while True:
        phase = (job.get("status") or {}).get("phase")
        ended = phase in FINISHED or (attempt is not None and _attempt_finished(job, attempt))
        if stream is None:
            if ended or not follow:
                raise LogsError(not_started(job))
            if not waiting_said:
                print(f"{not_started(job)}; waiting", file=err)
                waiting_said = True
        else:
            token, missing = _drain(read, stream, token, timestamps, out)
            if missing and ended:
                others = ", ".join(f"-c {c}" for c in contract.CONTAINERS if c != container)
                raise LogsError(
                    f"{missing}; the job ended, {phase} ({_reason(job)}); other containers: {others}"
                )
            if missing and not follow:
                raise LogsError(missing)
            if ended:
                if (
                    follow
                ):  # it ended while we watched: lines CloudWatch is still ingesting come within seconds
                    for _ in range(FINAL_READS):
                        sleep(interval)
                        before = token
                        token, _ = _drain(read, stream, token, timestamps, out)
                        if token == before:
                            break
                    print(f"{KIND} {job['metadata']['name']} ended: {phase} ({_reason(job)})", file=err)
                return EXIT_OK
            if not follow:
                return EXIT_OK
        sleep(interval)
        job = get_job()
        latest = stream_of(job, attempt, container)
        if latest is not None and stream is not None and latest.name != stream.name:
            _drain(read, stream, token, timestamps, out)  # the end of the previous attempt's log
            print(f"--- attempt {latest.attempt} ({latest.name})", file=err)
            token = None
        stream = latest or stream


def _drain(
    read, stream: Stream, token: str | None, timestamps: bool, out: Any
) -> tuple[str | None, str | None]:
    """Read and print until the stream has nothing newer: (token, why nothing could be read or None)."""
    while True:
        try:
            events, after = read(stream, token)
        except _StreamMissing as exc:
            return token, str(exc)
        for at, message in events:
            if timestamps:
                moment = datetime.fromtimestamp(at / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                out.write(f"{moment} {message}\n")
            else:
                out.write(f"{message}\n")
        out.flush()
        if not events or after == token:
            return after, None
        token = after


def _attempt_finished(job: dict[str, Any], number: int) -> bool:
    attempts = (job.get("status") or {}).get("attempts") or []
    return any(a.get("number") == number and a.get("finishedAt") for a in attempts)


def _reason(job: dict[str, Any]) -> str:
    status = job.get("status") or {}
    return (
        f"{status.get('reason')}: {status.get('message')}"
        if status.get("message")
        else str(status.get("reason"))
    )


# ----- Kubernetes and AWS -----------------------------------------------------------------------------------------


class _StreamMissing(Exception):
    """The stream does not exist (yet): the task has not written to it."""


class _JobReader:
    """Reads one ODMJob with the caller's kubeconfig ($KUBECONFIG or ~/.kube/config), else in-cluster credentials."""

    def __init__(self, namespace: str | None):
        import kubernetes

        self._api_exception = kubernetes.client.rest.ApiException
        configuration = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_kube_config(client_configuration=configuration)
            _, active = kubernetes.config.list_kube_config_contexts()
            default = (active or {}).get("context", {}).get("namespace") or "default"
        except (kubernetes.config.ConfigException, OSError) as exc:
            try:
                kubernetes.config.load_incluster_config(client_configuration=configuration)
            except kubernetes.config.ConfigException:
                raise LogsError(f"no Kubernetes credentials: {exc}") from None
            default = _incluster_namespace()
        self.namespace = namespace or default
        self.api = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(configuration))

    def get(self, name: str) -> dict[str, Any]:
        where = f"{KIND} {self.namespace}/{name}"
        try:
            return self.api.get_namespaced_custom_object(API_GROUP, API_VERSION, self.namespace, PLURAL, name)
        except self._api_exception as exc:
            if exc.status == 404:
                raise LogsError(f"{where} not found") from None
            if exc.status in (401, 403):
                raise LogsError(
                    f"not allowed to get {PLURAL} in namespace {self.namespace}: {exc.reason}"
                ) from None
            raise LogsError(f"reading {where} failed: HTTP {exc.status} {exc.reason}") from None
        except Exception as exc:  # urllib3's connection errors: the API server is unreachable
            raise LogsError(f"cannot reach the Kubernetes API server: {exc}") from None


def _incluster_namespace() -> str:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace", encoding="utf-8") as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


def _aws_reader() -> Callable[[Stream, str | None], tuple[list[tuple[int, str]], str]]:
    from .aws.errors import AwsCallError
    from .aws.logs import caller_logs_client, read_stream

    clients: dict[str | None, Any] = {}

    def read(stream: Stream, token: str | None) -> tuple[list[tuple[int, str]], str]:
        client = clients.get(stream.region) or clients.setdefault(
            stream.region, caller_logs_client(stream.region)
        )
        try:
            return read_stream(client, stream.group, stream.name, token)
        except AwsCallError as exc:
            where = f"log stream {stream.name} in group {stream.group}"
            if exc.code == "ResourceNotFoundException":
                raise _StreamMissing(
                    f"{where} does not exist (yet): the task has not written to it"
                    + (f" (Region {client.meta.region_name})" if client.meta.region_name else "")
                ) from None
            if exc.code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException"):
                raise LogsError(f"not allowed to read {where}: {exc.message}") from None
            raise LogsError(f"reading {where} failed: {exc.message}") from None

    return read
