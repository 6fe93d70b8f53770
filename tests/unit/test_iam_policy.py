"""The operator's IAM policy grants exactly the AWS actions the code can call: no more, no fewer.

The actions are derived from the code, not listed by hand: an AST scan of operator/odm_operator/aws/*.py finds
every call on a boto3 client (``self.client.run_task(...)``, ``self.client.get_paginator("list_objects_v2")``),
works out which service each client is (from ``make_clients`` and from where each gateway is constructed with
``clients.<service>``), and maps the Python method to the API operation with botocore's own service model. IAM
then needs a few actions that no call names (tagging at creation, passing roles): those are in IMPLIED_ACTIONS,
each with its reason. When this test fails after a new AWS call, add the action (and what it implies) to
manifests/aws/iam-policy.json, scoped as narrowly as AWS allows.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "operator" / "odm_operator"
AWS_DIR = PACKAGE / "aws"
POLICY = REPO / "manifests" / "aws" / "iam-policy.json"
TASK_ROLE_POLICY = REPO / "manifests" / "aws" / "task-role-policy.json"
EXECUTION_ROLE_POLICY = REPO / "manifests" / "aws" / "execution-role-policy.json"

# IAM action names that differ from the API operation's name.
RENAMED_ACTIONS = {
    "s3:ListObjectsV2": "s3:ListBucket",  # the S3 list operations are authorized as ListBucket
    "s3:ListObjects": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
    "ssm:GetParametersByPath": "ssm:GetParametersByPath",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",  # SQS authorizes a batch action as its single action
}

# Actions IAM checks besides the operation's own, when the operator calls that operation the way it does.
IMPLIED_ACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "ecs:CreateCluster": (
        ("ecs:TagResource", "created with tags; ECS authorizes tag-on-create as ecs:TagResource"),
        ("iam:CreateServiceLinkedRole", "ECS creates AWSServiceRoleForECS with the account's first cluster"),
    ),
    "ecs:RegisterTaskDefinition": (
        ("ecs:TagResource", "registered with tags"),
        ("iam:PassRole", "the task definition names the task and execution roles"),
    ),
    "ecs:RunTask": (
        ("ecs:TagResource", "run with tags naming the job"),
        ("iam:PassRole", "the task runs with the task definition's roles"),
    ),
    "ecs:CreateCapacityProvider": (("ecs:TagResource", "created with tags"),),
    "events:PutRule": (("events:TagResource", "PutRule with Tags is authorized as events:TagResource too"),),
    "sqs:CreateQueue": (
        ("sqs:TagQueue", "CreateQueue with tags needs sqs:TagQueue as well (SQS Developer Guide)"),
    ),
    "logs:CreateLogGroup": (("logs:TagResource", "created with tags"),),
    "ec2:CreateLaunchTemplate": (("ec2:CreateTags", "TagSpecifications on the launch template"),),
    "autoscaling:CreateAutoScalingGroup": (
        ("autoscaling:CreateOrUpdateTags", "created with Tags"),
        ("ec2:RunInstances", "Auto Scaling launches the launch template's instances as the caller"),
        ("ec2:CreateTags", "the launch template tags instances and volumes at launch"),
        ("iam:PassRole", "the launch template names the instance profile's role"),
        (
            "iam:CreateServiceLinkedRole",
            "Auto Scaling creates AWSServiceRoleForAutoScaling with the first group",
        ),
        ("ssm:GetParameters", "the launch template's ImageId is resolve:ssm:..., resolved as the caller"),
    ),
}

# Actions without resource-level permissions: "Resource": "*" is the only way to grant them.
NO_RESOURCE_LEVEL = frozenset(
    {
        "ecs:DescribeTaskDefinition",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeInstances",
        "autoscaling:DescribeAutoScalingGroups",
        "logs:DescribeLogGroups",
    }
)
# Read-only actions granted on "*" although the SAR has a resource type for them, each with the reason.
UNNAMED_READS = {
    "ecs:DescribeCapacityProviders": "the janitor lists every provider (no names in the call) to find its own",
}
# botocore client methods that are not API operations themselves.
CLIENT_HELPERS = frozenset({"get_paginator", "get_waiter", "can_paginate", "close", "generate_presigned_url"})


# ----- deriving the calls from the code --------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    service: str  # the boto3 service name, e.g. "ecs"
    operation: str  # the API operation, e.g. "RunTask"
    where: str  # file:line

    @property
    def action(self) -> str:
        model = _service_model(self.service)
        prefix = model.signing_name or model.endpoint_prefix
        action = f"{prefix}:{model.operation_model(self.operation).name}"
        return RENAMED_ACTIONS.get(action, action)


@cache
def _service_model(service: str):
    return botocore.session.get_session().get_service_model(service)


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method name -> API operation name, as botocore builds the client's methods."""
    return {xform_name(op): op for op in _service_model(service).operation_names}


def _client_services(sources: dict[str, ast.Module]) -> dict[str, str]:
    """Clients field -> boto3 service, from ``make_clients``: ``ecs=client("ecs")``."""
    fields: dict[str, str] = {}
    for tree in sources.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == "make_clients":
                for call in ast.walk(node):
                    if isinstance(call, ast.Call):
                        for kw in call.keywords:
                            if (
                                kw.arg
                                and isinstance(kw.value, ast.Call)
                                and kw.value.args
                                and isinstance(kw.value.args[0], ast.Constant)
                            ):
                                fields[kw.arg] = kw.value.args[0].value
    return fields


def _gateway_params(
    modules: dict[str, ast.Module], classes: dict[str, ast.ClassDef], fields: dict[str, str]
) -> dict[tuple[str, str], set[str]]:
    """(class, __init__ parameter) -> services, from every ``Gateway(clients.ecs, ...)`` in the operator."""
    found: dict[tuple[str, str], set[str]] = {}
    for tree in modules.values():
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            holders = {"clients"} | {
                a.arg
                for a in func.args.args + func.args.kwonlyargs
                if a.annotation is not None and "Clients" in ast.unparse(a.annotation)
            }
            for call in ast.walk(func):
                if not isinstance(call, ast.Call):
                    continue
                name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)
                if name not in classes:
                    continue
                params = _init_params(classes[name])
                bound = list(zip(params, call.args, strict=False)) + [(k.arg, k.value) for k in call.keywords]
                for param, value in bound:
                    if (
                        isinstance(value, ast.Attribute)
                        and isinstance(value.value, ast.Name)
                        and value.value.id in holders
                        and value.attr in fields
                    ):
                        found.setdefault((name, param), set()).add(fields[value.attr])
    return found


def _init_params(cls: ast.ClassDef) -> list[str]:
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            return [a.arg for a in item.args.args[1:]]
    return []


def _attribute_sources(cls: ast.ClassDef) -> dict[str, str]:
    """``self.<attr> = <param>`` in __init__ -> {attr: param}."""
    out: dict[str, str] = {}
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            for node in ast.walk(item):
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
                    for target in node.targets:
                        if (
                            isinstance(target, ast.Attribute)
                            and isinstance(target.value, ast.Name)
                            and target.value.id == "self"
                        ):
                            out[target.attr] = node.value.id
    return out


def _by_class_name(cls: str, fields: dict[str, str]) -> set[str]:
    """Fallback for a gateway constructed nowhere yet: EcsGateway -> ecs, AutoScalingGateway -> autoscaling."""
    stem = cls.removesuffix("Gateway").lower()
    return {service for field, service in fields.items() if field.replace("_", "") == stem}


def _gateway_attributes(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> dict[str, str]:
    """``self.<attr> = <param>`` where the parameter is annotated with another gateway class -> {attr: class}."""
    annotations: dict[str, str] = {}
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            for arg in item.args.args[1:]:
                if arg.annotation is not None and ast.unparse(arg.annotation).strip("'\"") in classes:
                    annotations[arg.arg] = ast.unparse(arg.annotation).strip("'\"")
    return {
        attr: annotations[param] for attr, param in _attribute_sources(cls).items() if param in annotations
    }


def derive_calls(aws_sources: dict[str, str], other_sources: dict[str, str]) -> tuple[set[Call], list[str]]:
    """The AWS calls in ``aws_sources`` (name -> code), and the calls whose service could not be told."""
    aws = {name: ast.parse(code) for name, code in aws_sources.items()}
    every = {**aws, **{name: ast.parse(code) for name, code in other_sources.items()}}
    fields = _client_services(aws)
    assert fields, "make_clients (aws/clients.py) names no client: the scan cannot tell services apart"
    all_ops = {method for service in set(fields.values()) for method in _operations(service)}
    classes = {
        node.name: (file, node)
        for file, tree in aws.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    class_nodes = {name: node for name, (_, node) in classes.items()}
    params = _gateway_params(every, class_nodes, fields)
    clients_of: dict[str, dict[str, set[str]]] = {}  # class -> {attr holding a client: services}
    for name, cls in class_nodes.items():
        clients_of[name] = {
            attr: params.get((name, param)) or _by_class_name(name, fields)
            for attr, param in _attribute_sources(cls).items()
            if (name, param) in params or param == "client"
        }
    calls: set[Call] = set()
    unresolved: list[str] = []
    for name, (file, cls) in classes.items():
        attrs = dict(clients_of[name])
        for attr, other in _gateway_attributes(cls, class_nodes).items():  # self.ecs.client on a gateway
            for client_attr, services in clients_of.get(other, {}).items():
                attrs[f"{attr}.{client_attr}"] = services
        methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
        for func in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            local = _local_aliases(func, attrs)
            for node in ast.walk(func):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                method, receiver = node.func.attr, node.func.value
                services = _receiver_services(receiver, attrs, local)
                where = f"{file}:{node.lineno}"
                if services is None:
                    if method in all_ops and not (
                        isinstance(receiver, ast.Name) and receiver.id == "self" and method in methods
                    ):
                        unresolved.append(f"{where}: {ast.unparse(node.func)}(...)")
                    continue
                for service in services:
                    operation = _operation_of(service, method, node)
                    if operation is not None:
                        calls.add(Call(service, operation, where))
                    elif method not in CLIENT_HELPERS:
                        unresolved.append(f"{where}: {service} has no operation {method!r}")
    return calls, unresolved


def _local_aliases(func: ast.FunctionDef, attrs: dict[str, set[str]]) -> dict[str, set[str]]:
    """``client = self.client`` inside a method."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            services = _receiver_services(node.value, attrs, {})
            if services:
                out[node.targets[0].id] = services
    return out


def _receiver_services(
    receiver: ast.expr, attrs: dict[str, set[str]], local: dict[str, set[str]]
) -> set[str] | None:
    """Services of ``self.<attr>``, ``self.<gateway>.<attr>`` or a local alias of either."""
    if isinstance(receiver, ast.Name):
        return local.get(receiver.id)
    path = ast.unparse(receiver)
    if path.startswith("self."):
        return attrs.get(path.removeprefix("self.")) or None
    return None


def _operation_of(service: str, method: str, node: ast.Call) -> str | None:
    ops = _operations(service)
    if method in ops:
        return ops[method]
    if method == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
        return ops.get(node.args[0].value)
    if method == "get_waiter" and node.args and isinstance(node.args[0], ast.Constant):
        model = botocore.session.get_session().get_waiter_model(service)
        names = {xform_name(name): name for name in model.waiter_names}
        name = names.get(node.args[0].value)
        return model.get_waiter(name).operation if name else None
    return None


def _code_sources() -> tuple[dict[str, str], dict[str, str]]:
    aws = {p.name: p.read_text() for p in sorted(AWS_DIR.glob("*.py"))}
    other = {
        str(p.relative_to(PACKAGE)): p.read_text()
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.parent != AWS_DIR
    }
    return aws, other


@cache
def code_calls() -> frozenset[Call]:
    calls, unresolved = derive_calls(*_code_sources())
    assert not unresolved, (
        "AWS calls whose client the scan cannot tell (keep the client on self.<attr>, set from an __init__ "
        "parameter that is constructed with clients.<service>):\n" + "\n".join(unresolved)
    )
    return frozenset(calls)


def required_actions(calls: frozenset[Call] | set[Call]) -> dict[str, str]:
    """IAM action -> why (the call, or the call that implies it)."""
    out: dict[str, str] = {}
    for call in sorted(calls, key=lambda c: (c.action, c.where)):
        out.setdefault(call.action, f"called at {call.where}")
        for implied, reason in IMPLIED_ACTIONS.get(call.action, ()):
            out.setdefault(implied, f"{reason} ({call.action})")
    return out


# ----- reading the policy ----------------------------------------------------------------------------------------


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _statements(path: Path) -> list[dict]:
    document = json.loads(path.read_text())
    assert document["Version"] == "2012-10-17"
    return document["Statement"]


def granted_actions(path: Path) -> set[str]:
    return {a for s in _statements(path) if s["Effect"] == "Allow" for a in _as_list(s["Action"])}


# ----- the scan itself works -------------------------------------------------------------------------------------

CLIENTS_SRC = """
def make_clients(region):
    return Clients(ecs=client("ecs"), ec2=client("ec2"), autoscaling=client("autoscaling"), s3=client("s3"))
"""


def test_the_scan_finds_calls_paginators_and_aliases_and_tells_services_apart():
    gateway = textwrap.dedent(
        """
        class CapacityGateway:
            def __init__(self, ec2, autoscaling, ecs):
                self.ec2 = ec2
                self.autoscaling = autoscaling
                self.ecs = ecs  # a gateway, not a client

            def ensure(self):
                self.ec2.create_launch_template(LaunchTemplateName="x")
                client = self.autoscaling
                client.create_auto_scaling_group(AutoScalingGroupName="x")
                for page in self.ec2.get_paginator("describe_launch_templates").paginate():
                    pass
                self.ecs.attach_provider("odm", "x")
                self.helper()

            def helper(self):
                pass

        class S3Gateway:
            def __init__(self, client):
                self.client = client

            def count(self):
                return self.client.list_objects_v2(Bucket="b")
        """
    )
    runtime = (
        "def build(clients: Clients, ecs):\n    CapacityGateway(clients.ec2, clients.autoscaling, ecs)\n"
    )
    runtime += "    S3Gateway(clients.s3)\n"
    calls, unresolved = derive_calls({"clients.py": CLIENTS_SRC, "cap.py": gateway}, {"runtime.py": runtime})
    assert unresolved == []
    assert {c.action for c in calls} == {
        "ec2:CreateLaunchTemplate",
        "autoscaling:CreateAutoScalingGroup",
        "ec2:DescribeLaunchTemplates",
        "s3:ListBucket",
    }


def test_the_scan_refuses_a_call_whose_client_it_cannot_tell():
    gateway = "class G:\n    def __init__(self, thing):\n        self.thing = thing\n\n"
    gateway += "    def go(self):\n        self.thing.run_task(cluster='odm')\n"
    calls, unresolved = derive_calls({"clients.py": CLIENTS_SRC, "g.py": gateway}, {})
    assert calls == set()
    assert len(unresolved) == 1 and "self.thing.run_task" in unresolved[0]


def test_the_code_calls_aws_only_through_clients_the_scan_understands():
    assert code_calls(), "no AWS call found in operator/odm_operator/aws/: the scan is broken"
    assert any(c.action == "ecs:RunTask" for c in code_calls())


# ----- the operator's policy -------------------------------------------------------------------------------------


def test_the_policy_grants_every_action_the_code_needs():
    missing = {
        a: why for a, why in required_actions(code_calls()).items() if a not in granted_actions(POLICY)
    }
    assert not missing, (
        "manifests/aws/iam-policy.json lacks actions the operator calls; add them, scoped by resource ARN and "
        "condition where AWS supports it:\n"
        + "\n".join(f"  {a}: {why}" for a, why in sorted(missing.items()))
    )


def test_the_policy_grants_nothing_the_code_never_calls():
    extra = granted_actions(POLICY) - set(required_actions(code_calls()))
    assert not extra, (
        f"manifests/aws/iam-policy.json grants actions no code calls (remove them, or if IAM needs them for a "
        f"call that is made, add them to IMPLIED_ACTIONS with the reason): {sorted(extra)}"
    )


def test_the_policy_has_no_wildcard_action_and_only_allows():
    for statement in _statements(POLICY):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in _as_list(statement["Action"]):
            service, _, name = action.partition(":")
            assert action != "*" and "*" not in name and "?" not in name, f"wildcard action {action}"
            assert service and name, action


def test_every_statement_is_scoped_by_resource_or_condition():
    """ "Resource": "*" only for actions without resource-level permissions, or under a condition."""
    for statement in _statements(POLICY):
        if "*" not in _as_list(statement["Resource"]):
            continue
        unscoped = [
            a for a in _as_list(statement["Action"]) if a not in NO_RESOURCE_LEVEL | set(UNNAMED_READS)
        ]
        assert not unscoped or statement.get("Condition"), f"{statement['Sid']}: {unscoped} on every resource"


def test_pass_role_is_limited_to_named_roles_and_to_ecs_tasks():
    passing = [s for s in _statements(POLICY) if "iam:PassRole" in _as_list(s["Action"])]
    assert passing
    for statement in passing:
        assert _as_list(statement["Action"]) == ["iam:PassRole"], "PassRole in a statement of its own"
        for arn in _as_list(statement["Resource"]):
            assert arn.startswith("arn:aws:iam::") and ":role/" in arn and not arn.endswith("*"), arn
        passed_to = statement["Condition"]["StringEquals"]["iam:PassedToService"]
        assert set(_as_list(passed_to)) <= {"ecs-tasks.amazonaws.com", "ec2.amazonaws.com"}


def test_tagging_is_only_allowed_while_creating():
    for statement in _statements(POLICY):
        if "ecs:TagResource" in _as_list(statement["Action"]):
            assert statement["Condition"]["StringEquals"]["ecs:CreateAction"]


def test_ecs_task_actions_are_confined_to_the_cluster():
    for statement in _statements(POLICY):
        actions = set(_as_list(statement["Action"]))
        if actions & {"ecs:RunTask", "ecs:ListTasks", "ecs:DescribeTasks", "ecs:StopTask"}:
            resources = _as_list(statement["Resource"])
            cluster_condition = (statement.get("Condition") or {}).get("ArnLike", {}).get("ecs:cluster")
            assert cluster_condition or all(":task/" in r for r in resources), statement["Sid"]


# ----- the job's roles -------------------------------------------------------------------------------------------


def test_the_task_role_reads_inputs_and_writes_outputs_only():
    statements = _statements(TASK_ROLE_POLICY)
    assert granted_actions(TASK_ROLE_POLICY) == {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
    }
    for statement in statements:
        for resource in _as_list(statement["Resource"]):
            assert resource.startswith("arn:aws:s3:::") and resource != "arn:aws:s3:::*"
        actions = set(_as_list(statement["Action"]))
        if actions & {"s3:GetObject"}:
            assert all("INPUT" in r for r in _as_list(statement["Resource"]))
        if actions & {"s3:PutObject"}:
            assert all("OUTPUT" in r for r in _as_list(statement["Resource"]))
        if "s3:ListBucket" in actions:
            assert statement["Condition"]["StringLike"]["s3:prefix"]


ECR_PULL = {
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchImportUpstreamImage",  # an ECR pull-through cache (the imageMirror setting) fetches upstream
    "ecr:CreateRepository",  # ... into a repository it creates on the first pull
    "ecr:GetAuthorizationToken",  # no resource-level permissions
}


def test_the_execution_role_only_writes_the_job_log_group_and_pulls_images():
    assert granted_actions(EXECUTION_ROLE_POLICY) == {"logs:CreateLogStream", "logs:PutLogEvents"} | ECR_PULL
    for statement in _statements(EXECUTION_ROLE_POLICY):
        actions = set(_as_list(statement["Action"]))
        if actions & {"logs:CreateLogStream", "logs:PutLogEvents"}:
            assert all("/odm-operator/jobs" in r for r in _as_list(statement["Resource"]))
        else:
            assert actions <= ECR_PULL


@pytest.mark.parametrize("path", sorted((REPO / "manifests" / "aws").glob("*.json")), ids=lambda p: p.name)
def test_every_policy_document_is_json_with_sids(path):
    for statement in _statements(path):
        assert statement.get("Sid", "").isalnum(), f"{path.name}: every statement has an alphanumeric Sid"


# ----- every statement against AWS's own authorization data, offline ---------------------------------------------
# policy_sentry ships the Service Authorization Reference (actions, resource ARN formats, condition keys and their
# types per action) as data. moto cannot do this check: it evaluates IAM at the action level only (resource ARNs
# only for S3 and IAM, no condition keys), so a statement scoped to the wrong ARN or a key the action never sets
# would pass there and fail (or, worse, allow more) in AWS.

from policy_sentry.querying.actions import get_action_data  # noqa: E402
from policy_sentry.shared.iam_data import get_service_prefix_data  # noqa: E402
from policy_sentry.util.arns import does_arn_match  # noqa: E402

DOCUMENTS = sorted((REPO / "manifests" / "aws").glob("*.json"))
# Global condition keys any action may carry (IAM User Guide, "AWS global condition context keys"), with their
# types. The tag keys (aws:RequestTag/*, aws:ResourceTag/*, aws:TagKeys) are not global: the SAR lists them per
# action, so they are checked like service keys.
GLOBAL_KEYS = {
    "aws:SourceAccount": "String",
    "aws:SourceArn": "ARN",
    "aws:SourceVpc": "String",
    "aws:PrincipalAccount": "String",
    "aws:PrincipalArn": "ARN",
    "aws:SecureTransport": "Bool",
    "aws:CalledVia": "ArrayOfString",
}
# Keys of an OIDC identity provider in a web-identity trust policy (IAM User Guide, "Available keys for AWS web
# identity federation"): <issuer>:aud and <issuer>:sub; OIDC_PROVIDER is the placeholder for the issuer.
WEB_IDENTITY_KEYS = {"OIDC_PROVIDER:aud": "String", "OIDC_PROVIDER:sub": "String"}
# Which key types each condition operator family compares (IAM User Guide, "IAM JSON policy elements: Condition
# operators").
OPERATOR_TYPES = {
    "String": {"String", "ArrayOfString"},
    "Arn": {"ARN", "ArrayOfARN"},
    "Bool": {"Bool", "ArrayOfBool"},
    "Numeric": {"Numeric", "ArrayOfNumeric"},
    "Date": {"Date", "ArrayOfDate"},
}


def _template(key: str) -> re.Pattern[str]:
    """A SAR key such as ``aws:RequestTag/${TagKey}`` as a regex matching concrete keys."""
    return re.compile(re.sub(r"\\\$\\\{\w+\\\}", ".+", re.escape(key)) + r"\Z")


def _supports(keys: set[str], key: str) -> bool:
    return any(_template(k).match(key) for k in keys)


def _arn_matches(arn: str, raw: str) -> bool:
    """Whether ``arn`` (a policy's, wildcards allowed) is of the resource type whose SAR format is ``raw``.

    policy_sentry's matcher first; it splits resource names on "/" too, so a log group such as
    /odm-operator/jobs matches no log type there. Then (our own, for that case) the literal parts of the format's
    resource (e.g. "log-group:", ":log-stream:") must appear in ``arn`` in order, the first at its start."""
    if does_arn_match(arn, raw):
        return True
    parts, fields = arn.split(":", 5), raw.split(":", 5)
    if len(parts) < 6 or len(fields) < 6 or parts[2] != fields[2]:
        return False
    literals = [x for x in re.split(r"\$\{\w+\}", fields[5]) if x]
    rest = parts[5]
    if literals and not rest.startswith(literals[0]):
        return False
    for literal in literals:
        found = rest.find(literal)
        if found < 0:
            return False
        rest = rest[found + len(literal) :]
    return True


def _key_type(service: str, key: str) -> str | None:
    if key in GLOBAL_KEYS:
        return GLOBAL_KEYS[key]
    if key in WEB_IDENTITY_KEYS:
        return WEB_IDENTITY_KEYS[key]
    conditions = get_service_prefix_data(service).get("conditions", {})
    return next((d["type"] for name, d in conditions.items() if _template(name).match(key)), None)


def _family(operator: str) -> tuple[str, bool]:
    """``ForAllValues:ArnLikeIfExists`` -> ("Arn", True): the operator's family and whether it is a set operator."""
    base, _, rest = operator.partition(":")
    multi = bool(rest) and base in ("ForAllValues", "ForAnyValue")
    name = (rest if multi else operator).removesuffix("IfExists")
    family = next((f for f in OPERATOR_TYPES if name.startswith(f) or name.startswith(f"{f}Not")), name)
    return family, multi


@dataclass
class Figures:
    documents: int = 0
    statements: int = 0
    actions: int = 0
    resources: int = 0
    conditions: int = 0


def check_against_sar(paths: list[Path]) -> tuple[list[str], Figures]:
    """Every problem of the documents at ``paths`` against the SAR data, and what was checked."""
    problems: list[str] = []
    figures = Figures()
    for path in paths:
        figures.documents += 1
        for statement in _statements(path):
            figures.statements += 1
            where = f"{path.name} {statement.get('Sid')}"
            resources = _as_list(
                statement.get("Resource", "*")
            )  # a trust policy's statement is about the role
            for action in _as_list(statement["Action"]):
                figures.actions += 1
                service, _, name = action.partition(":")
                rows = [
                    r
                    for r in (get_action_data(service, name) or {}).get(service, [])
                    if r["action"] == action
                ]
                if not rows:
                    problems.append(f"{where}: {action} is no IAM action (the SAR does not list it)")
                    continue
                action_keys = {
                    k for r in rows if r["resource_arn_format"] == "*" for k in r["condition_keys"]
                }
                supported: list[set[str]] = []
                for arn in resources:
                    figures.resources += 1
                    if arn == "*":
                        supported.append({k for r in rows for k in r["condition_keys"]})
                        continue
                    typed = [
                        r
                        for r in rows
                        if r["resource_arn_format"] != "*" and _arn_matches(arn, r["resource_arn_format"])
                    ]
                    if not typed:
                        formats = [r["resource_arn_format"] for r in rows]
                        problems.append(
                            f"{where}: {arn} is no resource type of {action} (it takes {formats})"
                        )
                        continue
                    supported.append(action_keys | {k for r in typed for k in r["condition_keys"]})
                for operator, keys in (statement.get("Condition") or {}).items():
                    family, multi = _family(operator)
                    for key in keys:
                        figures.conditions += 1
                        special = key in GLOBAL_KEYS or key in WEB_IDENTITY_KEYS
                        if not special and not all(_supports(s, key) for s in supported):
                            problems.append(f"{where}: {action} does not support the condition key {key}")
                            continue
                        kind = _key_type(service, key)
                        if kind is None:
                            problems.append(f"{where}: {key} has no type in the SAR data of {service}")
                        elif family in OPERATOR_TYPES and kind not in OPERATOR_TYPES[family]:
                            problems.append(f"{where}: {operator} does not compare {key} (type {kind})")
                        elif kind.startswith("ArrayOf") != multi and family != "Null":
                            need = (
                                "needs ForAllValues:/ForAnyValue:"
                                if kind.startswith("ArrayOf")
                                else "is single"
                            )
                            problems.append(f"{where}: {key} (type {kind}) {need} ({operator})")
    return problems, figures


def test_every_statement_matches_aws_authorization_data(capsys):
    problems, figures = check_against_sar(DOCUMENTS)
    assert problems == []
    # Printed for the record (pytest -s shows it): what the SAR check covered.
    with capsys.disabled():
        print(
            f"\nIAM vs SAR: {figures.documents} documents, {figures.statements} statements, {figures.actions} "
            f"actions, {figures.resources} action-resource pairs, {figures.conditions} action-condition pairs"
        )
    assert figures.statements >= len(_statements(POLICY)) and figures.conditions > 0


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        pytest.param(
            {"Action": "ecs:RunTasks", "Resource": "*"}, "no IAM action", id="an action that does not exist"
        ),
        pytest.param(
            {"Action": "ecs:StopTask", "Resource": "arn:aws:ecs:*:*:cluster/odm"},
            "no resource type",
            id="a cluster ARN for a task action",
        ),
        pytest.param(
            {"Action": "ecs:DescribeTaskDefinition", "Resource": "arn:aws:ecs:*:*:task-definition/odm-*"},
            "no resource type",
            id="an ARN for an action without resource-level permissions",
        ),
        pytest.param(
            {
                "Action": "ecs:StopTask",
                "Resource": "arn:aws:ecs:*:*:task/odm/*",
                "Condition": {"StringEquals": {"aws:RequestTag/team": "a"}},
            },
            "does not support the condition key",
            id="a request tag on an action that takes none",
        ),
        pytest.param(
            {
                "Action": "ecs:RunTask",
                "Resource": "arn:aws:ecs:*:*:task-definition/odm-*",
                "Condition": {
                    "ArnLike": {"ecs:capacity-provider": "arn:aws:ecs:*:*:capacity-provider/odm-*"}
                },
            },
            "needs ForAllValues",
            id="a multi-valued key under a single-value operator",
        ),
        pytest.param(
            {
                "Action": "ecs:RunTask",
                "Resource": "arn:aws:ecs:*:*:task-definition/odm-*",
                "Condition": {"StringLike": {"ecs:cluster": "odm"}},
            },
            "does not compare",
            id="a string operator on an ARN key",
        ),
        pytest.param(
            {
                "Action": "ecs:RegisterTaskDefinition",
                "Resource": "arn:aws:ecs:*:*:task-definition/odm-*",
                "Condition": {"Bool": {"ecs:privileged": "false"}},
            },
            "does not compare",
            id="Bool on ecs:privileged, a String in the SAR",
        ),
    ],
)
def test_the_sar_check_finds_what_aws_would_refuse(tmp_path, statement, problem):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"Version": "2012-10-17", "Statement": [{"Sid": "Bad", "Effect": "Allow", **statement}]})
    )
    problems, _ = check_against_sar([path])
    assert len(problems) == 1 and problem in problems[0], problems


def test_actions_granted_on_every_resource_have_no_resource_types_in_the_sar():
    for action in sorted(NO_RESOURCE_LEVEL):
        service, _, name = action.partition(":")
        formats = {r["resource_arn_format"] for r in get_action_data(service, name)[service]}
        assert formats == {"*"}, f"{action} has resource types {formats - {'*'}}: scope it instead of '*'"


def test_the_policy_closes_what_the_security_review_found_open():
    statements = _statements(POLICY)

    def granting(action: str) -> list[dict]:
        return [s for s in statements if action in _as_list(s["Action"])]

    for action in ("ecs:RunTask", "ecs:PutClusterCapacityProviders", "ecs:CreateCluster"):
        for statement in granting(action):
            providers = statement["Condition"]["ForAllValues:ArnLike"]["ecs:capacity-provider"]
            assert set(_as_list(providers)) <= {
                "arn:aws:ecs:*:*:capacity-provider/odm-*",
                "arn:aws:ecs:*:*:capacity-provider/FARGATE",
                "arn:aws:ecs:*:*:capacity-provider/FARGATE_SPOT",
                "arn:aws:ecs:*:*:capacity-provider/ALLOWED_PROVIDER",
            }, action
    assert all("*" not in _as_list(s["Resource"]) for s in granting("ecs:CreateCluster"))
    for statement in granting("ec2:RunInstances"):
        resources = _as_list(statement["Resource"])
        condition = statement["Condition"]
        if any(":launch-template/" in r for r in resources):
            assert resources == ["arn:aws:ec2:*:*:launch-template/*"], (
                "the template needs a statement of its own"
            )
            assert condition["StringEquals"]["aws:ResourceTag/odm-operator.io/managed-by"] == "odm-operator"
        else:
            assert "*" not in resources and condition["ArnLike"]["ec2:LaunchTemplate"]
    (register,) = granting("ecs:RegisterTaskDefinition")
    assert register["Condition"]["StringEqualsIfExists"]["ecs:privileged"] == "false"
    (listing,) = granting("s3:ListBucket")
    assert set(_as_list(listing["Resource"])) == {"arn:aws:s3:::INPUT_BUCKET", "arn:aws:s3:::OUTPUT_BUCKET"}
    trust = _statements(REPO / "manifests" / "aws" / "operator-trust-pod-identity.json")[0]["Condition"]
    assert {"aws:RequestTag/kubernetes-namespace", "aws:RequestTag/kubernetes-service-account"} <= set(
        trust["StringEquals"]
    )
