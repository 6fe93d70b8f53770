"""plan/launch.py, pure: what a Start turns into (sizing, the failures before any AWS call), what RunTask's answer
and an adoption's findings turn into, and which actions run before or after the status write. One reason per
case."""

from datetime import UTC, datetime

import pytest

from odm_operator import contract
from odm_operator.api.validation import parse_spec
from odm_operator.plan import launch
from odm_operator.plan import reconcile as plan
from odm_operator.plan.launch import CallFailure, InputListing, RunResult
from odm_operator.settings import Settings

from .helpers import owned_task

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
SETTINGS = Settings(subnets=["subnet-0123456789abcdef0"], security_groups=["sg-0123456789abcdef0"])
BASE = {"input": {"s3Uri": "s3://in/x/"}, "output": {"s3Uri": "s3://out/x/"}}
GIVEN = {"resources": {"cpu": 4, "memory": "16Gi"}}
FARGATE = {"capacity": {"type": "fargate"}}
EC2 = {"capacity": {"type": "ec2", "maxInstances": 2}}
IN_FLIGHT = {"phase": "Starting", "attempts": [{"number": 1}]}


def view(**spec):
    return plan.JobView("ns", "job", "uid-1", 3, parse_spec({**BASE, **spec}), {}, cluster="odm")


def task(arn="arn:aws:ecs:r:1:task/odm/abc", attempt="1", uid="uid-1"):
    tags = {contract.TAG_JOB_UID: uid, contract.TAG_ATTEMPT: attempt}
    return owned_task(
        arn, "PROVISIONING", created_at="2026-11-21T12:00:00Z", tags=tags, capacity_provider="FARGATE"
    )


PREPARE = [
    # spec, status, listing, expected (None: a launch; else the attempt's reason and the job's phase), why
    ({**GIVEN, **FARGATE}, IN_FLIGHT, None, None, "resources given: nothing to list, the launch goes ahead"),
    (
        FARGATE,
        IN_FLIGHT,
        InputListing(error="AccessDenied"),
        ("InputUnavailable", "Failed"),
        "unreadable input",
    ),
    (
        FARGATE,
        IN_FLIGHT,
        InputListing(images=0),
        ("InputUnavailable", "Failed"),
        "an empty prefix has no images",
    ),
    (FARGATE, IN_FLIGHT, InputListing(images=120, bytes=10**9), None, "sized from the dataset"),
    (
        FARGATE,
        {**IN_FLIGHT, "sizing": {"images": 120, "bytes": 5}},
        None,
        None,
        "a retry reuses the count in status.sizing: no listing",
    ),
    (
        {**GIVEN, "capacity": {"type": "ec2", "maxInstances": 0}},
        IN_FLIGHT,
        None,
        ("CapacityUnavailable", "Failed"),
        "a managed group with maxInstances 0 can never start an instance",
    ),
    (
        {**GIVEN, **FARGATE, "retryPolicy": {"onOutOfMemory": "escalate"}},
        {
            "phase": "Starting",
            "attempts": [
                {"number": n, "reason": "OutOfMemory", "finishedAt": "x"} for n in (1, 2, 3, 4, 5, 6)
            ]
            + [{"number": 7}],
        },
        None,
        ("OutOfMemory", "Failed"),
        "six escalations leave no larger Fargate size within the memory ceiling",
    ),
]


@pytest.mark.parametrize(
    ("spec", "status", "listing", "expected", "why"), PREPARE, ids=[c[-1] for c in PREPARE]
)
def test_prepare(spec, status, listing, expected, why):
    attempt = status["attempts"][-1]["number"]
    prepared = launch.prepare(view(**spec), status, attempt, listing, SETTINGS, NOW)
    if expected is None:
        assert prepared.decision is None and prepared.launch is not None, why
        assert prepared.launch.status["attempts"][-1]["memory"], (
            "the attempt's memory is recorded with the ARN"
        )
        return
    assert prepared.launch is None, why
    new = prepared.decision.status
    assert (new["attempts"][-1]["reason"], new["phase"]) == expected, why
    assert prepared.decision.actions == [], "nothing to do in AWS: the attempt never reached RunTask"


def test_a_dataset_sized_attempt_records_status_sizing_for_its_retries():
    prepared = launch.prepare(view(**FARGATE), IN_FLIGHT, 1, InputListing(images=120, bytes=7), SETTINGS, NOW)
    assert (
        prepared.launch.status["sizing"]["images"] == 120 and prepared.launch.status["sizing"]["bytes"] == 7
    )
    assert not launch.needs_listing(prepared.launch.spec, prepared.launch.status), "listed once per job"
    assert launch.needs_listing(prepared.launch.spec, IN_FLIGHT)


def _launch(**spec):
    prepared = launch.prepare(view(**{**GIVEN, **FARGATE, **spec}), IN_FLIGHT, 1, None, SETTINGS, NOW)
    return prepared.launch


LAUNCHED = [
    # result, the attempt's reason and the phase, what follows, why
    (
        RunResult(task=task()),
        (None, "Starting"),
        [plan.Record, plan.Watch, plan.Emit],
        "placed: record and watch",
    ),
    (
        RunResult(failure="RESOURCE:MEMORY not enough", failure_retryable=True),
        ("CapacityUnavailable", "Starting"),
        [],
        "no room right now: the attempt ends and a retry follows",
    ),
    (
        RunResult(failure="ATTRIBUTE no such thing", failure_retryable=False),
        ("RunTaskFailed", "Failed"),
        [],
        "a failure no retry can help",
    ),
    (
        RunResult(error=CallFailure("AccessDenied", "RunTask failed with AccessDeniedException", False)),
        ("AccessDenied", "Failed"),
        [],
        "the operator may not run tasks: a human must grant it",
    ),
    (
        RunResult(error=CallFailure("AwsRequestFailed", "RunTask failed with LimitExceededException", True)),
        ("CapacityUnavailable", "Starting"),
        [],
        "a retryable AWS error ends the attempt as capacity, counted against backoffLimit",
    ),
]


@pytest.mark.parametrize(("result", "expected", "follow", "why"), LAUNCHED, ids=[c[-1] for c in LAUNCHED])
def test_launched(result, expected, follow, why):
    decision = launch.launched(view(**GIVEN, **FARGATE), IN_FLIGHT, _launch(), result, NOW, "odm")
    entry = decision.status["attempts"][-1]
    assert (entry.get("reason"), decision.status["phase"]) == expected, why
    assert [type(a) for a in decision.actions] == follow, why
    if result.task is not None:
        assert entry["taskArn"] == result.task.arn and decision.status["aws"]["taskArn"] == result.task.arn


def test_a_cluster_without_room_for_the_provider_takes_the_attempt_back_and_waits():
    result = RunResult(
        error=CallFailure(launch.PROVIDER_QUOTA, "cluster odm has 20 capacity providers", False)
    )
    decision = launch.launched(view(**GIVEN, **EC2), IN_FLIGHT, _launch(**EC2), result, NOW, "odm")
    assert decision.status["attempts"] == [], "no RunTask happened: nothing counts against backoffLimit"
    assert (decision.status["phase"], decision.status["reason"]) == ("Pending", "CapacityProviderQuota")


ADOPTED = [
    # tasks ListTasks found, what follows, why
    ([task()], [plan.Record, plan.Watch, plan.Emit], "its own task of this attempt is adopted"),
    ([], [plan.Start], "none: RunTask with the same clientToken"),
    ([task(attempt="2")], [plan.Start], "a task of another attempt of the job is not this attempt's"),
    ([task(uid="uid-2")], [plan.Start], "a task tagged for another job is never adopted"),
]


@pytest.mark.parametrize(("tasks", "follow", "why"), ADOPTED, ids=[c[-1] for c in ADOPTED])
def test_adopted(tasks, follow, why):
    decision = launch.adopted(view(**GIVEN, **FARGATE), IN_FLIGHT, plan.Adopt(1), "odm", tasks, NOW, "odm")
    assert [type(a) for a in decision.actions] == follow, why
    if follow[0] is plan.Start:
        assert decision.actions == [plan.Start(1)] and decision.status == IN_FLIGHT, (
            "the same attempt, unchanged"
        )
    else:
        assert decision.requeue_after == 0, "a fresh pass tracks the adopted task at once"


MANAGED = [
    ({**GIVEN, **EC2}, True, "resources given on managed EC2: the provider is known before any listing"),
    ({**GIVEN, **FARGATE}, False, "Fargate needs no provider of ours"),
    (EC2, False, "sized from the dataset: the provider is known only after listing it"),
    (
        {**GIVEN, "capacity": {"type": "ec2", "provider": "theirs"}},
        False,
        "an existing provider is not created",
    ),
]


@pytest.mark.parametrize(("spec", "managed", "why"), MANAGED, ids=[c[-1] for c in MANAGED])
def test_managed_provider(spec, managed, why):
    settings = Settings(**{**SETTINGS.model_dump(), "allowed_providers": ["theirs"]})
    found = launch.managed_provider(parse_spec({**BASE, **spec}), settings)
    assert (found is not None) == managed, why
    if found:
        assert found[0] == settings.cluster and found[1].startswith("odm-")


SPLIT = [
    (plan.Stop("odm", "arn", "why"), True, "a task is stopped before the write that ends its attempt"),
    (plan.StopOwn("odm", "why"), True, "the same for the tasks listed as the job's"),
    (plan.CollectOutputs("s3://out/x/"), True, "the outputs go into the Succeeded write"),
    (plan.Start(1), False, "RunTask only once the attempt is recorded as in flight"),
    (plan.Adopt(1), False, "adoption reads the recorded attempt"),
    (plan.Watch("odm", "arn"), False, "watching needs nothing written"),
    (plan.Forget("arn"), False, "forgetting needs nothing written"),
    (plan.DeleteJob(), False, "the TTL deletion comes last"),
]


@pytest.mark.parametrize(("action", "before", "why"), SPLIT, ids=[c[-1] for c in SPLIT])
def test_each_action_says_whether_it_runs_before_the_status_write(action, before, why):
    decision = plan.Decision({}, [plan.Forget("first"), action, plan.Watch("odm", "last")])
    assert (action in decision.before, action in decision.after) == (before, not before), why
    assert decision.after[0] == plan.Forget("first") and decision.after[-1] == plan.Watch("odm", "last"), (
        "the planner's order is kept within each side"
    )


def test_a_busy_provider_holds_a_new_attempt_back_without_writing_one():
    job = plan.JobView("ns", "job", "uid-1", 3, parse_spec({**BASE, **GIVEN, **EC2}), {}, capacity_busy=True)
    decision = plan.decide(job, None, NOW, plan.Timing())
    assert decision.actions == [] and not decision.status.get("attempts"), (
        "no attempt recorded while it waits"
    )
    assert decision.requeue_after == launch.CAPACITY_BUSY_RETRY_SECONDS


def test_the_job_shows_its_cluster_and_log_group_from_the_first_pass():
    job = plan.JobView(
        "ns", "job", "uid-1", 3, parse_spec({**BASE, **GIVEN, **FARGATE}), {}, cluster="c", log_group="g"
    )
    status = plan.decide(job, None, NOW, plan.Timing()).status
    assert (status["aws"]["cluster"], status["aws"]["logGroup"]) == ("c", "g")
