"""What the planner reads (JobView, Timing) and what it returns (Decision and its actions). Pure data.

A decision carries the status the job should show and the actions to take. Each kind of action says once, in its
class, whether it runs before the status write or after it (``BEFORE_WRITE``), and ``Decision.before`` /
``Decision.after`` split the planner's ordered list accordingly: the runtime runs ``before``, writes the status,
runs ``after``, and never looks at an action to choose. Stopping a task comes before the write that ends its
attempt (no later pass would stop it again should the write land and the StopTask fail); listing the outputs
comes before the write that says Succeeded (the products go in the same patch); everything that needs the
status written first (the attempt recorded as in flight before RunTask) comes after.

Some actions have a result the planner must read (RunTask's answer, the tasks an adoption found): the runtime
gives the result to a pure function of plan/launch.py, which returns the follow-up Decision, executed the same
way. A decision that needs a fresh pass asks for one with ``requeue_after=0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..api.types import ODMJobSpec
from .observed import ObservedTask


@dataclass(frozen=True)
class Timing:
    """Clock-related knobs. ``time_scale`` > 1 makes the operator's own durations (deadline, TTL, backoff) pass
    faster, matching the sandbox's accelerated ECS agent; it is 1 against real AWS."""

    backoff_seconds: float = 10.0
    backoff_max_seconds: float = 300.0
    time_scale: float = 1.0
    provisioning_timeout_seconds: float = 1200.0


@dataclass(frozen=True)
class JobView:
    namespace: str
    name: str
    uid: str
    generation: int | None
    spec: ODMJobSpec | None  # None when the spec is invalid
    status: dict[str, Any]
    errors: tuple[str, ...] = ()  # admission errors, "path: message"
    policy_errors: tuple[str, ...] = ()  # what the admin's settings forbid, "path: message"
    quota_wait: str | None = None  # why the namespace's concurrency quota holds this job back, if it does
    config_errors: tuple[str, ...] = ()  # operator settings this job needs that are missing or malformed
    creation: str | None = None
    cluster: str = ""  # the cluster its tasks run in (spec, else the operator's); "" leaves status.aws alone
    log_group: str = ""  # the log group its tasks write to
    capacity_busy: bool = False  # the managed provider a new attempt needs is being created by another pass


class _Action:
    BEFORE_WRITE: ClassVar[bool] = False


@dataclass(frozen=True)
class Start(_Action):
    """Record attempt ``attempt`` as in flight (already in Decision.status), then ensure and RunTask."""

    attempt: int


@dataclass(frozen=True)
class Adopt(_Action):
    """Find the task of an in-flight attempt with ListTasks(startedBy) before running another."""

    attempt: int


@dataclass(frozen=True)
class Stop(_Action):
    BEFORE_WRITE: ClassVar[bool] = True

    cluster: str
    task_arn: str
    reason: str


@dataclass(frozen=True)
class StopOwn(_Action):
    """Stop whatever tasks ECS lists as started by this job (ListTasks by startedBy): used when status no longer
    says which task is the job's, so the job does not leave its own task running as it fails."""

    BEFORE_WRITE: ClassVar[bool] = True

    cluster: str
    reason: str


@dataclass(frozen=True)
class Watch(_Action):
    cluster: str
    task_arn: str


@dataclass(frozen=True)
class Forget(_Action):
    task_arn: str


@dataclass(frozen=True)
class Record(_Action):
    """Put a task the planner just learnt of (RunTask's answer, an adopted task) into the tracker's cache, so the
    next pass reads it without a DescribeTasks."""

    task: ObservedTask


@dataclass(frozen=True)
class Emit(_Action):
    """Post a Kubernetes Event about the job."""

    kind: str
    reason: str
    message: str


@dataclass(frozen=True)
class DeleteJob(_Action):
    pass


@dataclass(frozen=True)
class CollectOutputs(_Action):
    """List the output prefix once and put the products into status.outputs (in the same write)."""

    BEFORE_WRITE: ClassVar[bool] = True

    output_uri: str


Action = Start | Adopt | Stop | StopOwn | Watch | Forget | Record | Emit | DeleteJob | CollectOutputs


@dataclass
class Decision:
    status: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    requeue_after: float | None = None  # seconds of real time until something is due (backoff, deadline, TTL)

    @property
    def before(self) -> list[Action]:
        """The actions to run before the status is written, in the planner's order."""
        return [a for a in self.actions if a.BEFORE_WRITE]

    @property
    def after(self) -> list[Action]:
        """The actions to run once the status is written, in the planner's order."""
        return [a for a in self.actions if not a.BEFORE_WRITE]
