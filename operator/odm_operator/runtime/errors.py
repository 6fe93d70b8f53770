"""The two ways a pass stops short."""

from __future__ import annotations

from ..aws.errors import AwsCallError


class TransientError(Exception):
    """AWS said "not now" (throttled, 5xx): the dispatcher runs the pass again later, nothing is counted against
    the job. ``__cause__`` is the AwsCallError (aws_retrying.py shows its operation and code)."""


def retry_later(exc: AwsCallError) -> TransientError:
    """The error that makes the dispatcher retry the pass, for a failed AWS call (``raise retry_later(exc) from
    exc``)."""
    return TransientError(exc.message)
