"""Closed by default, opened on purpose: a job outside the settings fails with PolicyViolation naming the field
and the setting that would allow it (plan/policy.py, pure, before any AWS call)."""

import pytest

from odm_operator.api.validation import parse_spec
from odm_operator.plan.policy import Peer, check_policy, needs_peers, operator_wait, quota_wait, with_defaults
from odm_operator.settings import NamespacePolicy, Settings

BASE = {"input": {"s3Uri": "s3://in-b/x/"}, "output": {"s3Uri": "s3://out-b/x/"}}
ROLE = "arn:aws:iam::111122223333:role/odm-job"
EXEC = "arn:aws:iam::111122223333:role/odm-task-execution"
CONFIGURED = {"task_role_arn": ROLE, "execution_role_arn": EXEC}


@pytest.mark.parametrize(
    ("spec", "settings", "path", "setting"),
    [
        pytest.param(
            {"capacity": {"type": "ec2", "spot": True}},
            {"spot_allowed": False},
            "spec.capacity.spot",
            "spotAllowed",
            id="spot switched off",
        ),
        pytest.param(
            {"resources": {"cpu": 4, "memory": "16Gi", "gpu": 1}},
            {"gpu_allowed": False},
            "spec.resources.gpu",
            "gpuAllowed",
            id="gpus switched off",
        ),
        pytest.param(
            {"capacity": {"type": "ec2"}},
            {"manage_capacity": False},
            "spec.capacity.provider",
            "manageCapacity",
            id="managed capacity switched off",
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "maxInstances": 50}},
            {"max_instances_ceiling": 10},
            "spec.capacity.maxInstances",
            "maxInstancesCeiling",
            id="more instances than one job may have",
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "maxInstances": 60}},
            {},
            "spec.capacity.maxInstances",
            "maxManagedInstances",
            id="more instances than all managed capacity may have together (default 50)",
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "instanceTypes": ["p3.2xlarge"]}},
            {"allowed_instance_families": ["m6i"]},
            "spec.capacity.instanceTypes",
            "allowedInstanceFamilies",
            id="instance family not listed",
        ),
        pytest.param(
            {"odm": {"image": "evil.example/odm:3.6.0"}},
            {},
            "spec.odm.image",
            "allowedImages",
            id="a foreign image by default",
        ),
        pytest.param(
            {"odm": {"image": "opendronemap/odm-evil:1"}},
            {"allowed_images": ["opendronemap/odm:3.*"]},
            "spec.odm.image",
            "allowedImages",
            id="an image outside the operator-wide patterns",
        ),
        pytest.param(
            {"taskRoleArn": "arn:aws:iam::111122223333:role/admin"},
            CONFIGURED,
            "spec.taskRoleArn",
            "taskRoleArn",
            id="a task role other than the configured one",
        ),
        pytest.param(
            {"taskRoleArn": EXEC},
            CONFIGURED,
            "spec.taskRoleArn",
            "executionRoleArn",
            id="the execution role as task role",
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "provider": "team-b-gpu"}},
            {},
            "spec.capacity.provider",
            "allowedProviders",
            id="an existing provider nobody allowed",
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "provider": "odm-0123456789ab"}},
            {},
            "spec.capacity.provider",
            "allowedProviders",
            id="another spec's managed provider named by hand",
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "cluster": "prod-other"}},
            {},
            "spec.capacity.cluster",
            "allowedClusters",
            id="a cluster other than the configured one",
        ),
        pytest.param(
            {"resources": {"cpu": 96, "memory": "64Gi"}},
            {},
            "spec.resources.cpu",
            "maxJobCpu",
            id="more vCPUs than the operator-wide ceiling (default 64)",
        ),
        pytest.param(
            {"resources": {"cpu": 16, "memory": "512Gi"}},
            {},
            "spec.resources.memory",
            "maxJobMemory",
            id="more memory than the operator-wide ceiling (default 256Gi)",
        ),
        pytest.param(
            {"resources": {"cpu": 16, "memory": "64Gi", "gpu": 4}},
            {},
            "spec.resources.gpu",
            "maxJobGpu",
            id="more GPUs than the operator-wide ceiling (default 1)",
        ),
    ],
)
def test_violations_name_the_field_and_the_setting(spec, settings, path, setting):
    errors = check_policy(parse_spec({**BASE, **spec}), Settings(**settings))
    assert [e.path for e in errors] == [path]
    assert setting in errors[0].message


@pytest.mark.parametrize(
    ("spec", "settings"),
    [
        pytest.param(
            {"resources": {"cpu": 16, "memory": "64Gi"}}, {}, id="zero config: input, output, resources"
        ),
        pytest.param({}, {}, id="zero config: sized from the dataset"),
        pytest.param({"odm": {"image": "opendronemap/odm:3.6.0"}}, {}, id="the configured image named"),
        pytest.param(
            {"odm": {"image": "registry.example/odm@sha256:ab"}},
            {"allowed_images": ["registry.example/odm@sha256:*"]},
            id="an image the setting opens",
        ),
        pytest.param({"taskRoleArn": ROLE}, CONFIGURED, id="the configured task role named"),
        pytest.param(
            {"capacity": {"type": "ec2", "provider": "team-cp"}},
            {"manage_capacity": False, "allowed_providers": ["team-cp"]},
            id="an allowed existing provider",
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "provider": "admin-cp"}},
            {"capacity_provider": "admin-cp"},
            id="the admin's default provider named",
        ),
        pytest.param(
            {"capacity": {"type": "fargate", "spot": True}}, {"manage_capacity": False}, id="fargate spot"
        ),
        pytest.param({"capacity": {"type": "ec2", "cluster": "odm"}}, {}, id="the configured cluster named"),
        pytest.param(
            {"capacity": {"type": "ec2", "cluster": "batch"}},
            {"allowed_clusters": ["batch"]},
            id="an allowed cluster",
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "instanceTypes": ["m6i.large"]}},
            {"allowed_instance_families": ["m6i"]},
            id="a listed family",
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "maxInstances": 10}},
            {"max_instances_ceiling": 10},
            id="at the ceiling",
        ),
        pytest.param(
            {"resources": {"cpu": 96, "memory": "512Gi", "gpu": 4}},
            {"max_job_cpu": None, "max_job_memory": None, "max_job_gpu": None},
            id="ceilings unset",
        ),
    ],
)
def test_jobs_inside_the_policy_pass(spec, settings):
    assert check_policy(parse_spec({**BASE, **spec}), Settings(**settings)) == []


def test_a_malformed_operator_ceiling_refuses_rather_than_allows():
    errors = check_policy(
        parse_spec({**BASE, "resources": {"cpu": 1, "memory": "1Gi"}}), Settings(max_job_cpu="x")
    )
    assert [e.path for e in errors] == ["spec.resources"]


TEAM = NamespacePolicy(
    allowed_images=["opendronemap/odm:3.*"],
    allowed_input_prefixes=["s3://raw/team/"],
    allowed_output_prefixes=["s3://products/team/"],
    allowed_task_roles=["arn:aws:iam::111122223333:role/team-*"],
    max_cpu=8,
    max_memory="32Gi",
    max_gpu=0,
)
GOOD = {
    "input": {"s3Uri": "s3://raw/team/flight-1/"},
    "output": {"s3Uri": "s3://products/team/flight-1/"},
    "taskRoleArn": "arn:aws:iam::111122223333:role/team-jobs",
    "resources": {"cpu": 8, "memory": "32Gi"},
}


@pytest.mark.parametrize(
    ("change", "path", "rule"),
    [
        ({"odm": {"image": "opendronemap/odm:2.9"}}, "spec.odm.image", "allowedImages"),
        ({"input": {"s3Uri": "s3://raw/other/"}}, "spec.input.s3Uri", "allowedInputPrefixes"),
        ({"input": {"s3Uri": "s3://raw/teamX/"}}, "spec.input.s3Uri", "allowedInputPrefixes"),
        ({"output": {"s3Uri": "s3://products/"}}, "spec.output.s3Uri", "allowedOutputPrefixes"),
        ({"taskRoleArn": "arn:aws:iam::111122223333:role/admin"}, "spec.taskRoleArn", "allowedTaskRoles"),
        ({"resources": {"cpu": 16, "memory": "32Gi"}}, "spec.resources.cpu", "maxCpu"),
        ({"resources": {"cpu": 8, "memory": "64Gi"}}, "spec.resources.memory", "maxMemory"),
        (
            {"resources": {"cpu": 8, "memory": "32Gi", "gpu": 1}, "odm": {"image": "opendronemap/odm:3.6.0"}},
            "spec.resources.gpu",
            "maxGpu",
        ),
    ],
)
def test_namespace_rules_name_the_field_and_the_rule(change, path, rule):
    settings = Settings(namespace_policies={"team": TEAM})
    errors = check_policy(parse_spec({**GOOD, **change}), settings, "team")
    assert [e.path for e in errors] == [path]
    assert rule in errors[0].message and "namespace team" in errors[0].message


def test_a_job_inside_its_namespace_policy_passes_and_other_namespaces_get_the_closed_defaults():
    settings = Settings(namespace_policies={"team": TEAM})
    assert check_policy(parse_spec(GOOD), settings, "team") == []
    paths = [
        e.path for e in check_policy(parse_spec({**GOOD, "odm": {"image": "x/y:1"}}), settings, "elsewhere")
    ]
    assert paths == ["spec.odm.image", "spec.taskRoleArn"], "no policy: only the configured image and role"


TEAM_A = NamespacePolicy(
    default_task_role_arn="arn:aws:iam::111122223333:role/odm-team-a",
    allowed_providers=["team-a-*"],
    allowed_clusters=["team-a"],
    allowed_images=["registry.example/team-a/odm:*"],
)


@pytest.mark.parametrize(
    ("change", "namespace", "paths"),
    [
        pytest.param({}, "team-a", [], id="the namespace default role is the job's role"),
        pytest.param(
            {"taskRoleArn": "arn:aws:iam::111122223333:role/odm-team-a"},
            "team-a",
            [],
            id="naming the default",
        ),
        pytest.param({"taskRoleArn": ROLE}, "team-a", ["spec.taskRoleArn"], id="the shared role is replaced"),
        pytest.param(
            {"taskRoleArn": "arn:aws:iam::111122223333:role/odm-team-b"},
            "team-a",
            ["spec.taskRoleArn"],
            id="another team's role",
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "provider": "team-a-gpu"}}, "team-a", [], id="own provider"
        ),
        pytest.param(
            {"capacity": {"type": "ec2", "provider": "team-a-gpu"}},
            "team-b",
            ["spec.capacity.provider"],
            id="another namespace's provider",
        ),
        pytest.param({"capacity": {"type": "ec2", "cluster": "team-a"}}, "team-a", [], id="own cluster"),
        pytest.param(
            {"capacity": {"type": "ec2", "cluster": "team-a"}},
            "team-b",
            ["spec.capacity.cluster"],
            id="another namespace's cluster",
        ),
        pytest.param({"odm": {"image": "registry.example/team-a/odm:1"}}, "team-a", [], id="own image"),
        pytest.param(
            {"odm": {"image": "registry.example/team-a/odm:1"}},
            "team-b",
            ["spec.odm.image"],
            id="another namespace's image",
        ),
    ],
)
def test_a_namespace_policy_opens_its_own_roles_providers_clusters_and_images(change, namespace, paths):
    settings = Settings(**CONFIGURED, namespace_policies={"team-a": TEAM_A, "team-b": NamespacePolicy()})
    errors = check_policy(
        with_defaults(parse_spec({**BASE, **change}), settings, namespace), settings, namespace
    )
    assert [e.path for e in errors] == paths


def test_the_execution_role_is_refused_even_when_a_namespace_pattern_matches_it():
    policy = NamespacePolicy(allowed_task_roles=["arn:aws:iam::111122223333:role/odm-*"])
    settings = Settings(**CONFIGURED, namespace_policies={"t": policy})
    errors = check_policy(parse_spec({**BASE, "taskRoleArn": EXEC}), settings, "t")
    assert [e.path for e in errors] == ["spec.taskRoleArn"] and "never allowed" in errors[0].message


@pytest.mark.parametrize(
    ("spec", "settings", "role", "deadline"),
    [
        pytest.param({}, {}, None, 172800, id="the default deadline, no role of its own"),
        pytest.param({"activeDeadlineSeconds": 60}, {}, None, 60, id="the job's own deadline wins"),
        pytest.param({}, {"default_active_deadline_seconds": None}, None, None, id="no default deadline"),
        pytest.param(
            {},
            {"namespace_policies": {"n": {"default_task_role_arn": "arn:aws:iam::111122223333:role/n"}}},
            "arn:aws:iam::111122223333:role/n",
            172800,
            id="the namespace's default role",
        ),
        pytest.param(
            {"taskRoleArn": "arn:aws:iam::111122223333:role/own"},
            {"namespace_policies": {"n": {"default_task_role_arn": "arn:aws:iam::111122223333:role/n"}}},
            "arn:aws:iam::111122223333:role/own",
            172800,
            id="the job's own role wins",
        ),
    ],
)
def test_defaults_fill_what_the_job_leaves_out(spec, settings, role, deadline):
    filled = with_defaults(parse_spec({**BASE, **spec}), Settings(**settings), "n")
    assert (filled.task_role_arn, filled.active_deadline_seconds) == (role, deadline)


def test_the_star_policy_applies_to_namespaces_without_their_own():
    settings = Settings(namespace_policies={"*": NamespacePolicy(spot_allowed=False)})
    spec = parse_spec({**GOOD, "taskRoleArn": None, "capacity": {"type": "fargate", "spot": True}})
    assert [e.path for e in check_policy(spec, settings, "any")] == ["spec.capacity.spot"]


def peer(name, created, active=True, started=False):
    return Peer(name, created, active, started)


@pytest.mark.parametrize(
    ("me", "peers", "waits", "reason"),
    [
        (
            "c",
            [peer("a", "1", started=True), peer("b", "2", started=True)],
            True,
            "two running fill the quota",
        ),
        (
            "c",
            [peer("a", "1", started=True), peer("b", "2", active=False)],
            False,
            "a finished job frees a slot",
        ),
        ("c", [peer("a", "1", started=True), peer("b", "2")], True, "an older waiting job goes first"),
        ("b", [peer("a", "1", started=True), peer("c", "3")], False, "a younger waiting job does not block"),
        (
            "a",
            [peer("b", "2", started=True), peer("c", "3", started=True)],
            True,
            "running jobs count whatever age",
        ),
    ],
)
def test_the_quota_admits_jobs_in_creation_order(me, peers, waits, reason):
    settings = Settings(namespace_policies={"q": NamespacePolicy(max_concurrent_jobs=2)})
    created = {"a": "1", "b": "2", "c": "3"}[me]
    assert (quota_wait(settings, "q", me, created, peers) is not None) == waits, reason


def job(name, created, ns="n", active=True, started=False, instances=0, provider=""):
    return Peer(name, created, active, started, ns, instances, provider)


@pytest.mark.parametrize(
    ("settings", "me", "peers", "waits"),
    [
        pytest.param(
            {"max_active_jobs": 2},
            job("c", "3", "z"),
            [job("a", "1", "x", started=True), job("b", "2", "y", started=True)],
            True,
            id="two running in other namespaces fill the operator-wide slots",
        ),
        pytest.param(
            {"max_active_jobs": 2},
            job("c", "3"),
            [job("a", "1", started=True), job("b", "2", active=False)],
            False,
            id="a finished job frees its slot",
        ),
        pytest.param(
            {"max_active_jobs": 1},
            job("b", "2", "y"),
            [job("a", "1", "x")],
            True,
            id="an older waiting job of another namespace goes first",
        ),
        pytest.param(
            {"max_active_jobs": 1},
            job("a", "1", "x"),
            [job("a", "1", "x"), job("b", "2", "y")],
            False,
            id="the job itself and younger waiting jobs do not count",
        ),
        pytest.param(
            {"max_active_jobs": None, "max_managed_instances": 20},
            job("c", "3", instances=10),
            [
                job("a", "1", started=True, instances=10, provider="odm-a"),
                job("b", "2", started=True, instances=5, provider="odm-b"),
            ],
            True,
            id="managed groups in use (15) plus this job's 10 pass 20",
        ),
        pytest.param(
            {"max_active_jobs": None, "max_managed_instances": 20},
            job("c", "3", instances=10),
            [
                job("a", "1", started=True, instances=10, provider="odm-a"),
                job("b", "2", started=True, instances=10, provider="odm-a"),
            ],
            False,
            id="jobs sharing one group count it once",
        ),
        pytest.param(
            {"max_active_jobs": None, "max_managed_instances": 10},
            job("c", "3", instances=10, provider="odm-a"),
            [job("a", "1", started=True, instances=10, provider="odm-a")],
            False,
            id="a retry on a group already counted adds nothing",
        ),
        pytest.param(
            {"max_active_jobs": None, "max_managed_instances": 10},
            job("c", "3"),
            [job("a", "1", started=True, instances=10, provider="odm-a")],
            False,
            id="fargate or an existing provider uses no managed instances",
        ),
        pytest.param(
            {"max_active_jobs": None, "max_managed_instances": 15},
            job("c", "3", instances=10),
            [job("a", "1", started=True, instances=10)],
            True,
            id="a starting job whose group is not recorded yet counts on its own",
        ),
    ],
)
def test_the_operator_wide_ceilings_make_jobs_wait(settings, me, peers, waits):
    why = operator_wait(Settings(**settings), me, peers)
    assert (why is not None) == waits
    if why:
        assert "maxActiveJobs" in why or "maxManagedInstances" in why


@pytest.mark.parametrize(
    ("settings", "me", "known", "needed"),
    [
        pytest.param(
            {"max_active_jobs": 50}, job("a", "1"), 50, False, id="no more jobs than slots: no gathering"
        ),
        pytest.param({"max_active_jobs": 50}, job("a", "1"), 51, True, id="more jobs than slots"),
        pytest.param(
            {}, job("a", "1", instances=10), 1, True, id="a managed job against the instance ceiling"
        ),
        pytest.param(
            {"max_active_jobs": None, "max_managed_instances": None},
            job("a", "1", instances=10),
            10**6,
            False,
            id="no ceilings",
        ),
        pytest.param(
            {"max_managed_instances": 1000},
            job("a", "1", instances=10),
            10,
            False,
            id="ten jobs at the per-job ceiling (100) cannot pass 1000 instances",
        ),
    ],
)
def test_every_job_is_gathered_only_when_a_ceiling_can_bind(settings, me, known, needed):
    assert needs_peers(Settings(**settings), me, known) == needed
