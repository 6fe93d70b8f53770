"""Shared boto3 clients, created once per operator process.

The endpoint comes from the standard ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_<SERVICE>``) environment variables,
which botocore reads itself: the operator has no code path special to the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from .. import metrics
from .models import trimmed_loader

# "standard": retries with exponential backoff and jitter. Not "adaptive": its client-side rate limiter is one per
# client, so under a sustained share of throttled answers it throttled the shared ECS client (every job and the
# tracker) down to ~1 call per second (measured with 20% ThrottlingException: 14 calls in 10 s against 44 with
# "standard"), and jobs stalled for minutes. ECS's quotas are kept by aws/pacing.py instead.
RETRY_MODE = "standard"
# Five attempts over ~20 s of backoff ride out a throttling burst without hiding a real outage for long.
TOTAL_MAX_ATTEMPTS = 5
# Progress reads are best effort and start again from the remembered position at the next poll: two attempts, so
# a throttled FilterLogEvents does not hold the tracker (and every job's state changes) for many seconds.
LOGS_MAX_ATTEMPTS = 2
# Handler threads share the clients; enough pooled connections that they do not queue behind each other.
MAX_POOL_CONNECTIONS = 32


@dataclass
class Clients:
    ecs: Any
    logs: Any
    s3: Any
    ec2: Any
    autoscaling: Any
    events: Any = None  # EventBridge and SQS: the queue of ECS task state changes (tracking: events)
    sqs: Any = None


def make_clients(region: str) -> Clients:
    core = botocore.session.Session()
    loader = trimmed_loader()  # service models holding only the operations the operator calls (aws/models.py)
    core.register_component("data_loader", loader)
    session = boto3.session.Session(botocore_session=core, region_name=region)
    config = Config(
        max_pool_connections=MAX_POOL_CONNECTIONS,
        connect_timeout=5,
        read_timeout=30,
    )

    def client(name: str, attempts: int = TOTAL_MAX_ATTEMPTS) -> Any:
        tuned = config.merge(Config(retries={"mode": RETRY_MODE, "total_max_attempts": attempts}))
        return metrics.instrument(session.client(name, config=tuned))  # counts calls, outcomes, throttles

    clients = Clients(
        ecs=client("ecs"),
        logs=client("logs", LOGS_MAX_ATTEMPTS),
        s3=client("s3"),
        ec2=client("ec2"),
        autoscaling=client("autoscaling"),
        events=client("events"),
        sqs=client("sqs"),
    )
    loader.forget_full_models()
    return clients
