"""EventBridge -> SQS delivery only where the queue's policy lets the rule send, as in AWS.

AWS delivers a rule's event to an SQS queue only if the queue policy allows the principal
``events.amazonaws.com`` to ``sqs:SendMessage``, normally under ``aws:SourceArn`` = the rule's ARN (EventBridge
User Guide, "Using resource-based policies for Amazon EventBridge", section "Amazon SQS permissions"); otherwise
the invocation fails (the rule's FailedInvocations metric) and the event is dropped after retries. moto delivers
regardless (moto/events/models.py ``Rule._send_to_sqs_queue`` sends without looking at the policy), so a missing
or wrong policy would pass in the sandbox and lose every event in AWS. ``install`` wraps that method with the
check.

The check is written here because neither moto (its IAM evaluation covers identity policies of callers, not
resource policies for service principals) nor policy_sentry (a policy writer, not an evaluator) evaluates a queue
policy. It is deliberately narrow and fails closed: an Allow counts only when its principal, action, resource and
every condition are understood and hold; a matching Deny wins.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from moto.events.models import Rule
from moto.sqs.models import sqs_backends

EVENTS_PRINCIPAL = "events.amazonaws.com"
_INSTALLED: dict[str, Any] = {}
# Deliveries refused by the check, for the control API and tests.
refused: list[str] = []
MAX_REFUSED = 50


def install() -> None:
    if "original" in _INSTALLED:
        return
    original = Rule._send_to_sqs_queue
    _INSTALLED["original"] = original

    def send_if_allowed(
        rule: Any, resource_id: str, event: dict[str, Any], group_id: str | None = None
    ) -> None:
        queue = sqs_backends[rule.account_id][rule.region_name].get_queue(resource_id)
        if not allows(queue.policy, queue.queue_arn, rule.arn, rule.account_id):
            refused.append(f"{rule.arn} -> {queue.queue_arn}")
            del refused[:-MAX_REFUSED]
            return
        original(rule, resource_id, event, group_id)

    Rule._send_to_sqs_queue = send_if_allowed  # type: ignore[method-assign]


def allows(policy: Any, queue_arn: str, rule_arn: str, account: str) -> bool:
    """Whether ``policy`` (a queue's Policy attribute) lets EventBridge send events of ``rule_arn`` to the queue."""
    if not policy:
        return False
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except ValueError:
        return False
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    context = {"aws:SourceArn": rule_arn, "aws:SourceAccount": account}
    allowed = False
    for statement in statements:
        if not (
            _principal(statement.get("Principal"))
            and _listed(statement.get("Action"), ("sqs:SendMessage", "sqs:*", "*"))
            and _resource(statement.get("Resource"), queue_arn)
            and _conditions(statement.get("Condition") or {}, context)
        ):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    return EVENTS_PRINCIPAL in _as_list(principal.get("Service", [])) or "*" in _as_list(
        principal.get("AWS", [])
    )


def _listed(actions: Any, accepted: tuple[str, ...]) -> bool:
    return any(action in accepted for action in _as_list(actions))


def _resource(resources: Any, arn: str) -> bool:
    return any(isinstance(r, str) and fnmatch.fnmatchcase(arn, r) for r in _as_list(resources))


def _conditions(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """Every condition holds (operators other than these four, or keys other than the two, do not)."""
    for operator, keys in conditions.items():
        if operator not in ("ArnEquals", "ArnLike", "StringEquals", "StringLike") or not isinstance(
            keys, dict
        ):
            return False
        for key, wanted in keys.items():
            actual = context.get(key)
            if actual is None:
                return False
            like = operator.endswith("Like")
            if not any(fnmatch.fnmatchcase(actual, w) if like else actual == w for w in _as_list(wanted)):
                return False
    return True
