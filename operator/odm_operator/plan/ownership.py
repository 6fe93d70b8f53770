"""Whose task is it? A job acts only on tasks it started: the check before StopTask, adoption or reading an outcome.

The task ARNs the operator works from live in ``status.attempts[].taskArn``, which anyone allowed to write
``odmjobs/status`` can change. So before a job stops a task, adopts it or takes its outcome, the task's own record
must say it is this job's: ``startedBy`` is ``odm/<job uid>`` (RunTask sets it; only someone with ecs:RunTask can
choose it), and, when the answer carries tags, the job-uid tag is the job's uid too. Both come in the
DescribeTasks (or RunTask) answer the tracker already has, so the check costs no AWS call.
"""

from __future__ import annotations

from .. import contract
from .observed import MISSING, ObservedTask


def foreign(task: ObservedTask, uid: str) -> str | None:
    """Why ``task`` is not the job ``uid``'s (None when it is). A task ECS no longer knows (MISSING) is nobody's:
    there is nothing left to stop, and its outcome is "missing" whoever asked."""
    if task.last_status == MISSING:
        return None
    expected = contract.started_by(uid)
    if task.started_by != expected:
        return f"task {task.arn} was started by {task.started_by or '(nobody named)'}, not by this job ({expected})"
    if task.tags:
        tagged = task.tags.get(contract.TAG_JOB_UID)
        if tagged != uid:
            return f"task {task.arn} carries {contract.TAG_JOB_UID}={tagged or '(none)'}, not this job's uid {uid}"
    return None
