"""The operator's runtime: executes the planner's decisions against AWS and Kubernetes, one pass of a job at a time.

handlers.py hands over every watch event (``Runtime.observe``, ``Runtime.gone``); everything a pass decides comes
from plan/ (pure), and everything it does goes through the gateways in aws/ and the writers here.

| module | what it is |
|---|---|
| ``controller.py`` | ``Runtime``: the wiring, and one pass of a job (view, decide, execute) |
| ``store.py`` | the job store: the newest version of every job, its admitted spec, drift, task ownership |
| ``workqueue.py``, ``dispatcher.py`` | the work queue (controller-runtime semantics) and the threads that run passes |
| ``launcher.py`` | starting an attempt (dataset, capacity, task definition, RunTask) and adopting one in flight |
| ``tasks.py``, ``tracker.py``, ``ecs_events.py`` | a job's tasks: ownership, watching, stopping; the shared poller; the SQS consumer of ECS task events |
| ``release.py`` | a deleted job: stop its task, then remove the finalizer |
| ``job_writer.py``, ``kube_writer.py``, ``kube_events.py`` | status patches, finalizer and TTL deletion; the Kubernetes calls; Events |
| ``quota.py``, ``aws_retrying.py``, ``janitor.py`` | concurrency quotas over the store; AWS errors retried without counting; idle capacity |
"""

from .controller import Runtime
from .errors import TransientError
from .store import kept_fields

__all__ = ["Runtime", "TransientError", "kept_fields"]
