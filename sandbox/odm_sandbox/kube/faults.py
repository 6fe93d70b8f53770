"""Fault injection: reject chosen requests before they touch any state.

Tests of the operator's error handling need the API to fail the way a real one does under load or during an
upgrade: a 409 on a status patch, a 500 on a create, a 429 with Retry-After, a watch stream that drops.
A reaction that replaced the response *after* the emulator stored the write (what kmock's did), which would turn "the write
failed" into "the write happened and the client thinks it failed"; here the check runs before any state
change. Rules match by verb/resource/subresource/namespace/name, fire for the next N matches or with a
probability, and draw from a seedable random generator so that a failing run can be replayed.
Thread-safe: tests call this from their own thread while the server runs in another.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from .errors import REASONS, ApiError


@dataclass
class Fault:
    """A rule. `None` fields match anything; `times=None` means until removed."""

    status: int = 500
    verb: str | None = None  # get, list, watch, create, update, patch, delete, deletecollection
    resource: str | None = None  # plural, e.g. "odmjobs"
    subresource: str | None = None  # e.g. "status"; "" matches only the main resource
    namespace: str | None = None
    name: str | None = None
    times: int | None = 1
    probability: float = 1.0
    message: str | None = None
    retry_after: int | None = None
    skip: int = 0  # let this many matching requests through first ("fail the second status write")
    fired: int = 0

    def matches(
        self, verb: str, resource: str, subresource: str, namespace: str | None, name: str | None
    ) -> bool:
        return (
            (self.verb is None or self.verb == verb)
            and (self.resource is None or self.resource == resource)
            and (self.subresource is None or self.subresource == subresource)
            and (self.namespace is None or self.namespace == namespace)
            and (self.name is None or self.name == name)
        )

    def error(self, resource: str, name: str | None) -> ApiError:
        message = self.message or {
            409: f'Operation cannot be fulfilled on {resource} "{name or ""}": injected conflict',
            429: "the server has received too many requests and has asked us to try again later",
            500: "Internal error occurred: injected fault",
            503: "the server is currently unable to handle the request",
        }.get(self.status, f"injected fault {self.status}")
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        details = {"name": name or "", "kind": resource}
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        return ApiError(self.status, message, REASONS.get(self.status, ""), details, headers)


class Faults:
    def __init__(self, seed: int | None = 0) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self.injected = 0

    def seed(self, seed: int | None) -> None:
        with self._lock:
            self._rng.seed(seed)

    def reject(
        self,
        *,
        status: int = 500,
        verb: str | None = None,
        resource: str | None = None,
        subresource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        times: int | None = 1,
        probability: float = 1.0,
        message: str | None = None,
        retry_after: int | None = None,
        skip: int = 0,
    ) -> Fault:
        """Add a rule: matching requests are answered with `status` (and a matching Status body)."""
        fault = Fault(
            status=status,
            verb=verb,
            resource=resource,
            subresource=subresource,
            namespace=namespace,
            name=name,
            times=times,
            probability=probability,
            message=message,
            retry_after=retry_after,
            skip=skip,
        )
        with self._lock:
            self._rules.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._rules:
                self._rules.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def check(
        self, verb: str, resource: str, subresource: str, namespace: str | None, name: str | None
    ) -> ApiError | None:
        """The error to answer with, or None to serve the request normally."""
        if not self._rules:
            return None
        with self._lock:
            for fault in list(self._rules):
                if not fault.matches(verb, resource, subresource, namespace, name):
                    continue
                if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.fired += 1
                self.injected += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._rules.remove(fault)
                return fault.error(resource, name)
        return None
