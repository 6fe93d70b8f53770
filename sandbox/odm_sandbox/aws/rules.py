"""Rules real ECS and Auto Scaling enforce that moto does not: checked on the request before moto sees it.

Each rule answers with AWS's own error code (HTTP 400) and message, and names its source. None of them is shared
with the operator: the sandbox reads the AWS documentation, moto's own data (instance types as EC2's
DescribeInstanceTypes reports them) and the request, never the operator's validation or sizing code.
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ssm.models import ssm_backends

# ECS service quotas: "Capacity providers per cluster: 20" (FARGATE and FARGATE_SPOT count); not adjustable.
MAX_PROVIDERS_PER_CLUSTER = 20
# ListTasks filters other than startedBy (botocore ECS model, ListTasksRequest).
LIST_TASKS_FILTERS = ("family", "desiredStatus", "containerInstance", "serviceName", "launchType")
# RunTask: at most 10 placement constraints, of type distinctInstance or memberOf (botocore ECS model).
MAX_PLACEMENT_CONSTRAINTS = 10
PLACEMENT_TYPES = ("distinctInstance", "memberOf")
RESOLVE_SSM = "resolve:ssm:"


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    status: int = 400


def ecs_request(action: str, body: dict[str, Any], backend: Any) -> Refusal | None:
    """The refusal of an ECS request (JSON body), or None to let moto answer."""
    if action == "RegisterTaskDefinition":
        return _register_task_definition(body)
    if action == "RunTask":
        return _run_task(body, backend)
    if action == "ListTasks":
        return _list_tasks(body)
    if action == "PutClusterCapacityProviders":
        return _provider_count(body.get("capacityProviders") or [])
    if action == "CreateCluster":
        return _provider_count(body.get("capacityProviders") or [])
    return None


def _register_task_definition(body: dict[str, Any]) -> Refusal | None:
    containers = body.get("containerDefinitions") or []
    task_memory = _int(body.get("memory"))
    if task_memory is not None:
        for container in containers:
            # Real wording, e.g. pulumi/pulumi-awsx#1220: "The 'memory' setting for container 'worker' is
            # greater than for the task."
            if (_int(container.get("memory")) or 0) > task_memory:
                return Refusal(
                    "ClientException",
                    f"The 'memory' setting for container '{container.get('name')}' is greater than for the task.",
                )
        reserved = sum(_int(c.get("memoryReservation")) or 0 for c in containers)
        # ContainerDefinition.memoryReservation (ECS API reference) and the real answer seen in
        # cloudnativedaysjp/dreamkast-infra#4766.
        if reserved > task_memory:
            return Refusal(
                "ClientException",
                "The sum of all container 'memoryReservation' values cannot be greater than the value of the "
                "task 'memory'.",
            )
    fargate = "FARGATE" in (body.get("requiresCompatibilities") or [])
    awslogs = any((c.get("logConfiguration") or {}).get("logDriver") == "awslogs" for c in containers)
    # virtual-kubelet/virtual-kubelet#193 (and the ECS task execution IAM role guide): Fargate pulls and logs
    # with the execution role.
    if fargate and awslogs and not body.get("executionRoleArn"):
        return Refusal(
            "ClientException",
            "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
        )
    return None


def _run_task(body: dict[str, Any], backend: Any) -> Refusal | None:
    constraints = body.get("placementConstraints") or []
    if len(constraints) > MAX_PLACEMENT_CONSTRAINTS:
        return Refusal("InvalidParameterException", "Too many placement constraints; the limit is 10.")
    for constraint in constraints:
        if constraint.get("type") not in PLACEMENT_TYPES:
            return Refusal(
                "InvalidParameterException", f"Invalid placement constraint type: {constraint.get('type')}"
            )
        if constraint.get("type") == "memberOf" and not constraint.get("expression"):
            return Refusal("InvalidParameterException", "An expression is required for memberOf constraints.")
    try:
        definition = backend.describe_task_definition(body.get("taskDefinition", ""))
    except Exception:
        return None  # moto words the unknown task definition
    if getattr(definition, "network_mode", None) != "awsvpc":
        return None
    config = (body.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    # The ECS answers to RunTask with networkMode awsvpc (moto fails with HTTP 500 instead): the configuration is
    # required ("Network Configuration must be provided when networkMode 'awsvpc' is specified.") and so are its
    # subnets (awsvpcConfiguration.subnets is required in the botocore ECS model; ECS: "subnets can not be empty.").
    if not config:
        return Refusal(
            "InvalidParameterException",
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        )
    if not config.get("subnets"):
        return Refusal("InvalidParameterException", "subnets can not be empty.")
    return None


def run_task_defaults(body: dict[str, Any], region: str) -> dict[str, Any] | None:
    """RunTask with what ECS fills in that moto needs: awsvpc without securityGroups uses the VPC's default group
    (botocore ECS model, AwsVpcConfiguration.securityGroups: "If you don't specify a security group, the default
    security group for the VPC is used"); moto fails with HTTP 500. None when nothing is to fill in."""
    config = (body.get("networkConfiguration") or {}).get("awsvpcConfiguration")
    if not config or config.get("securityGroups") or not config.get("subnets"):
        return None
    ec2 = ec2_backends[DEFAULT_ACCOUNT_ID][region]
    try:
        vpc = ec2.get_subnet(config["subnets"][0]).vpc_id
        group = next(
            g for g in ec2.describe_security_groups(filters={"vpc-id": [vpc]}) if g.name == "default"
        )
    except Exception:
        return None  # an unknown subnet: let moto word it
    filled = json.loads(json.dumps(body))
    filled["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] = [group.id]
    return filled


def _list_tasks(body: dict[str, Any]) -> Refusal | None:
    # ListTasks API reference, startedBy: "When you specify startedBy as the filter, it must be the only filter
    # that you use." (The message is the sandbox's; the rule is AWS's.)
    if body.get("startedBy") and any(body.get(name) for name in LIST_TASKS_FILTERS):
        used = ", ".join(name for name in LIST_TASKS_FILTERS if body.get(name))
        return Refusal(
            "InvalidParameterException",
            f"startedBy must be the only filter when it is specified (also given: {used}).",
        )
    return None


def _provider_count(providers: list[str]) -> Refusal | None:
    if len(set(providers)) > MAX_PROVIDERS_PER_CLUSTER:
        return Refusal(
            "LimitExceededException",
            f"The specified cluster would have {len(set(providers))} capacity providers; the limit is "
            f"{MAX_PROVIDERS_PER_CLUSTER} capacity providers per cluster.",
        )
    return None


# ----- Auto Scaling ----------------------------------------------------------------------------------------------


def create_auto_scaling_group(form_body: bytes, region: str) -> Refusal | None:
    """CreateAutoScalingGroup: every instance type must have the architecture of the launch template's AMI.

    The real answer (Genaker/TerraformMagentoCloud#21, kubernetes/kops#10726): "ValidationError: You must use a
    valid fully-formed launch template. The architecture 'arm64' of the specified instance type does not match
    the architecture 'x86_64' of the specified AMI. ...". Architectures come from moto's EC2 instance type data
    (what DescribeInstanceTypes reports) and from the AMI behind the template's ImageId."""
    form = {k: v[0] for k, v in parse_qs(form_body.decode("utf-8", "replace")).items()}
    template = next(
        (form[k] for k in (
            "MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.LaunchTemplateName",
            "LaunchTemplate.LaunchTemplateName",
        ) if k in form),
        None,
    )  # fmt: skip
    if template is None:
        return None
    ec2 = ec2_backends[DEFAULT_ACCOUNT_ID][region]
    found = next((t for t in ec2.launch_templates.values() if t.name == template), None)
    if found is None:
        return None
    data = found.latest_version().data
    image_arch = _image_architecture(str(data.get("ImageId") or ""), region)
    types = [v for k, v in form.items() if k.endswith(".InstanceType") and "Overrides" in k]
    if data.get("InstanceType"):
        types.append(str(data["InstanceType"]))
    for instance_type in types:
        arches = _instance_architectures().get(instance_type)
        if image_arch and arches and image_arch not in arches:
            return Refusal(
                "ValidationError",
                "You must use a valid fully-formed launch template. The architecture "
                f"'{arches[0]}' of the specified instance type does not match the architecture '{image_arch}' of "
                "the specified AMI. Specify an instance type and an AMI with matching architectures, and try again.",
            )
    return None


@cache
def _instance_architectures() -> dict[str, list[str]]:
    """Instance type -> SupportedArchitectures, from moto's copy of EC2 DescribeInstanceTypes."""
    raw = (importlib.resources.files("moto.ec2") / "resources" / "instance_types.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    return {
        name: info.get("ProcessorInfo", {}).get("SupportedArchitectures", []) for name, info in data.items()
    }


def _image_architecture(image_id: str, region: str) -> str | None:
    """The AMI's architecture: moto's image if it has one, else the ECS AMI parameter's own path (the arm64
    parameters live under .../arm64/, "Retrieving Amazon ECS-optimized Linux AMI metadata")."""
    parameter = None
    if image_id.startswith(RESOLVE_SSM):
        parameter = image_id[len(RESOLVE_SSM) :]
        found = ssm_backends[DEFAULT_ACCOUNT_ID][region].get_parameter(parameter)
        image_id = found.value if found is not None else ""
    try:
        image = ec2_backends[DEFAULT_ACCOUNT_ID][region].describe_images(ami_ids=[image_id])[0]
        return str(image.architecture)
    except Exception:
        pass
    if parameter is not None:
        return "arm64" if "/arm64/" in parameter else "x86_64"
    return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
