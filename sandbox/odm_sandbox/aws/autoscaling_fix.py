"""A correction to moto's Auto Scaling: UpdateAutoScalingGroup must not drop the MixedInstancesPolicy.

On AWS an update that leaves ``MixedInstancesPolicy`` out keeps the group's policy; moto sets it to None, and
the group then forgets its instance types (and spot settings) the first time anyone changes MaxSize.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

from moto.autoscaling.models import autoscaling_backends
from moto.core import DEFAULT_ACCOUNT_ID

T = TypeVar("T")

OPERATION = "autoscaling:UpdateAutoScalingGroup"
POLICY_PARAMETER = "MixedInstancesPolicy"


def update_keeping_policy(request_body: bytes, region: str, call: Callable[[], T]) -> T:
    form = parse_qs(request_body.decode("utf-8", "replace"))
    if any(key.startswith(POLICY_PARAMETER) for key in form):
        return call()
    name = (form.get("AutoScalingGroupName") or [""])[0]
    group: Any = autoscaling_backends[DEFAULT_ACCOUNT_ID][region].autoscaling_groups.get(name)
    kept = group.mixed_instances_policy if group is not None else None
    result = call()
    if group is not None and kept is not None and group.mixed_instances_policy is None:
        group.mixed_instances_policy = kept
    return result
