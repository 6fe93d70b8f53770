"""Distributed split-merge: the ``--sm-cluster`` URL the operator gives ODM, and the per-job token in it (pure).

ClusterODM injects itself as ``sm-cluster`` (its URL plus ``?token=``) into a task that has ``split``; the
operator does the same with its NodeODM gateway, for jobs with ``spec.odm.splitMerge.distributed``. ODM reads the
URL with pyodm's ``Node.from_url`` (host, port, and ``token`` from the query; https only on port 443) and checks it
with its own ``url_string`` pattern (opendm/config.py): ``http(s)://host[:port]/[?token=]``.

The URL is in the task's RunTask overrides, which anyone allowed to DescribeTasks can read, so it never carries the
gateway's own token: each job gets ``sm1.<mac>.<namespace>.<name>``, where ``mac`` is HMAC-SHA256, keyed with the
gateway's token, over the job's namespace and name. The gateway recomputes it (constant-time comparison) and lets
it create and read only that job's submodel tasks; a leaked URL reaches nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import urlsplit

TOKEN_VERSION = "sm1"
MAC_HEX_CHARS = 40  # 160 bits of the SHA-256 MAC: plenty against guessing over HTTP, short in the overrides
_CONTEXT = b"odm-operator split-merge v1\n"
# The longest URL admission must make room for in the overrides (a gateway URL of ~100 characters).
PLACEHOLDER_URL_CHARS = 100


def _mac(secret: str, namespace: str, name: str) -> str:
    message = _CONTEXT + f"{namespace}/{name}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:MAC_HEX_CHARS]


def job_token(secret: str, namespace: str, name: str) -> str:
    """The token of one parent job. Namespaces have no '.', so the name (which may) comes last."""
    return f"{TOKEN_VERSION}.{_mac(secret, namespace, name)}.{namespace}.{name}"


def token_parent(secret: str, token: str) -> tuple[str, str] | None:
    """(namespace, name) of the parent job a split-merge token was made for; None when it is not one."""
    parts = token.split(".", 3)
    if len(parts) != 4 or parts[0] != TOKEN_VERSION:
        return None
    _, mac, namespace, name = parts
    if not (namespace and name) or not hmac.compare_digest(
        mac.encode(), _mac(secret, namespace, name).encode()
    ):
        return None
    return namespace, name


def sm_cluster_url(base_url: str, secret: str, namespace: str, name: str) -> str:
    """ODM's --sm-cluster value for a job: the gateway's task-facing URL with the job's token."""
    return f"{base_url.rstrip('/')}/?token={job_token(secret, namespace, name)}"


def placeholder_url() -> str:
    """A URL as long as a real one, to size the RunTask overrides before the settings are at hand."""
    return "http://" + "g" * PLACEHOLDER_URL_CHARS + "/?token=" + job_token("x", "n" * 63, "j" * 253)


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the gateway's task-facing URL, or None. The URL must be what ODM's url_string and
    pyodm's Node.from_url both take: a scheme, a host, an optional port, nothing after the host but '/'."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a URL ({exc}), got {url!r}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be http://host[:port] or https://host (the gateway as ECS tasks reach it), got {url!r}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"must have no path, query or fragment (pyodm keeps only host and port), got {url!r}"
    if parts.scheme == "https" and port not in (None, 443):
        return f"https must be on port 443: pyodm speaks https only there (pyodm/api.py), got {url!r}"
    if not _host_odm_takes(parts.hostname):
        return (
            "the host must be an IPv4 address, localhost, or a DNS name of at least 3 characters (letters, "
            "digits, '-', '.'; no '_'): ODM's url_string check (opendm/config.py) exits 2 on others, e.g. a "
            f"two-letter Service name; got {url!r}"
        )
    return None


def _host_odm_takes(host: str) -> bool:
    """Hosts ODM 3.6.0's --sm-cluster check accepts (tried against it: 'gw', 'ab' and 'odm_gw' fail; 'abc',
    'odm-gateway', 'odm-gateway.odm.svc.cluster.local', '10.0.0.1' and 'localhost' pass)."""
    if host == "localhost" or re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", host):
        return True
    labels = host.rstrip(".").split(".")
    return len(host) >= 3 and all(
        re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", x) for x in labels
    )
