"""EventBridge + SQS gateway: the queue of ECS Task State Change events the tracker consumes (tracking: events).

The operator ensures an SQS queue, an EventBridge rule on the default bus matching its clusters' task state changes
(plan/task_events.py has the pattern), a queue policy that lets only that rule send, and the rule's target. Every
call is idempotent (CreateQueue with the same attributes returns the existing queue; PutRule, PutTargets and
SetQueueAttributes replace), so ensuring at every start costs four calls and creates nothing twice. Consuming is
ReceiveMessage (10 messages, 20 s long poll) and DeleteMessageBatch.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..plan.task_events import event_pattern, queue_policy
from .ecs import aws_call
from .errors import AwsCallError

# ReceiveMessage's and DeleteMessageBatch's maximum batch, and SQS's longest long poll (SQS API reference).
RECEIVE_BATCH = 10
LONG_POLL_SECONDS = 20
# A day of events is more than the sweep needs to heal a gap; older ones describe a past long gone.
RETENTION_SECONDS = 86400
# Time a received message stays hidden from other receivers: ample for applying ten events.
VISIBILITY_TIMEOUT_SECONDS = 60
# The Id of the queue among the rule's targets.
TARGET_ID = "odm-operator-queue"


class TaskEventsGateway:
    def __init__(self, events: Any, sqs: Any, tags: dict[str, str] | None = None):
        self.events = events
        self.sqs = sqs
        self.tags = tags or {}

    def ensure_queue(self, name: str) -> tuple[str, str]:
        """The queue (created if missing): (URL, ARN)."""
        with aws_call("CreateQueue"):
            url = self.sqs.create_queue(
                QueueName=name,
                Attributes={
                    "MessageRetentionPeriod": str(RETENTION_SECONDS),
                    "ReceiveMessageWaitTimeSeconds": str(LONG_POLL_SECONDS),
                    "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
                    "SqsManagedSseEnabled": "true",
                },
                tags=self.tags,
            )["QueueUrl"]
        return url, self.queue_arn(url)

    def queue_arn(self, url: str) -> str:
        with aws_call("GetQueueAttributes"):
            return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]

    def ensure_rule(
        self, name: str, cluster_arns: list[str], started_by_prefix: str, queue_url: str, queue_arn: str
    ) -> str:
        """The rule matching the clusters' task state changes, allowed to send to the queue and targeting it;
        its ARN. Called again with more clusters, it widens the pattern (PutRule replaces it)."""
        with aws_call("PutRule"):
            rule_arn = self.events.put_rule(
                Name=name,
                EventPattern=json.dumps(event_pattern(cluster_arns, started_by_prefix)),
                State="ENABLED",
                Description="odm-operator: ECS task state changes of its clusters, to its SQS queue",
                Tags=[{"Key": k, "Value": v} for k, v in sorted(self.tags.items())],
            )["RuleArn"]
        with aws_call("SetQueueAttributes"):
            self.sqs.set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": json.dumps(queue_policy(queue_arn, rule_arn))}
            )
        with aws_call("PutTargets"):
            answer = self.events.put_targets(Rule=name, Targets=[{"Id": TARGET_ID, "Arn": queue_arn}])
        if answer.get("FailedEntryCount"):
            entry = (answer.get("FailedEntries") or [{}])[0]
            raise AwsCallError(
                "PutTargets",
                ClientError(
                    {
                        "Error": {
                            "Code": entry.get("ErrorCode", "Failed"),
                            "Message": entry.get("ErrorMessage", ""),
                        }
                    },
                    "PutTargets",
                ),
            )
        return rule_arn

    def receive(self, queue_url: str) -> list[dict[str, Any]]:
        """Up to ten messages, waiting up to 20 s for the first (long polling: an idle queue costs three calls a
        minute)."""
        with aws_call("ReceiveMessage"):
            return self.sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=RECEIVE_BATCH, WaitTimeSeconds=LONG_POLL_SECONDS
            ).get("Messages", [])

    def delete(self, queue_url: str, messages: list[dict[str, Any]]) -> list[str]:
        """Delete the messages (at most ten); the ids SQS failed to delete (they come back and are applied again,
        harmlessly: the version check drops them)."""
        if not messages:
            return []
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        with aws_call("DeleteMessageBatch"):
            answer = self.sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        return [f["Id"] for f in answer.get("Failed", [])]
