"""The gateway's boto3 clients, created once per gateway process.

As for the operator (aws/clients.py), the endpoint comes from the standard ``AWS_ENDPOINT_URL`` variables that
botocore reads itself. The gateway is small and makes few kinds of call, so it uses botocore's full service
models (no trimming: two clients, about 8 MB).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

# Request-level retries with backoff and jitter (botocore's "standard" mode), as in the operator.
RETRY_MODE = "standard"
TOTAL_MAX_ATTEMPTS = 4
# Console reads are best effort (the cached lines are served when one fails): two attempts, so a throttled
# GetLogEvents does not hold a client's poll for seconds.
LOGS_MAX_ATTEMPTS = 2
# Upload parts of parallel uploads (pyodm sends 10 at once, ClusterODM 20) share the pool.
MAX_POOL_CONNECTIONS = 32


@dataclass
class Clients:
    s3: Any
    logs: Any


def make_clients(region: str) -> Clients:
    session = boto3.session.Session(region_name=region)
    config = Config(max_pool_connections=MAX_POOL_CONNECTIONS, connect_timeout=5, read_timeout=60)

    def client(name: str, attempts: int = TOTAL_MAX_ATTEMPTS) -> Any:
        tuned = config.merge(Config(retries={"mode": RETRY_MODE, "total_max_attempts": attempts}))
        return session.client(name, config=tuned)

    return Clients(s3=client("s3"), logs=client("logs", LOGS_MAX_ATTEMPTS))
