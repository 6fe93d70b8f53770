"""Operator-managed EC2 capacity in the sandbox: scale from zero, CPU and GPU, shared, collected when idle."""

from __future__ import annotations

import dataclasses
import time

import pytest

from .conftest import E2E, odmjob

pytestmark = pytest.mark.e2e
CREATES = ("ec2:CreateLaunchTemplate", "autoscaling:CreateAutoScalingGroup", "ecs:CreateCapacityProvider")


def ec2_job(name: str, ns: str, **capacity):
    return odmjob(name, ns, resources={"cpu": 4, "memory": "16Gi"}, capacity={"type": "ec2", **capacity})


def cluster_providers(e2e: E2E) -> list[str]:
    return e2e.ecs.describe_clusters(clusters=["odm"])["clusters"][0]["capacityProviders"]


def test_cpu_spot_and_gpu_jobs_run_on_two_operator_created_providers(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(ec2_job("cpu", ns, spot=True))
    gpu = odmjob("gpu", ns, resources={"cpu": 8, "memory": "30Gi", "gpu": 1}, capacity={"type": "ec2"})
    e2e.apply(gpu)
    cpu_status = e2e.wait_phase(ns, "cpu", "Succeeded", "Failed")["status"]
    gpu_status = e2e.wait_phase(ns, "gpu", "Succeeded", "Failed")["status"]
    assert cpu_status["phase"] == gpu_status["phase"] == "Succeeded", (cpu_status, gpu_status)
    cpu_provider, gpu_provider = cpu_status["aws"]["capacityProvider"], gpu_status["aws"]["capacityProvider"]
    assert (
        cpu_provider.startswith("odm-") and gpu_provider.startswith("odm-") and cpu_provider != gpu_provider
    )
    assert {cpu_provider, gpu_provider} <= set(cluster_providers(e2e))
    assert "sandbox-ec2" in cluster_providers(e2e), "a provider the operator did not create is kept"
    ec2 = e2e.stack.client("ec2")
    data = ec2.describe_launch_template_versions(LaunchTemplateName=gpu_provider)["LaunchTemplateVersions"][0]
    assert "/amazon-linux-2023/gpu/" in data["LaunchTemplateData"]["ImageId"]
    groups = e2e.stack.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[cpu_provider, gpu_provider]
    )["AutoScalingGroups"]
    by_name = {g["AutoScalingGroupName"]: g for g in groups}
    spot = by_name[cpu_provider]["MixedInstancesPolicy"]["InstancesDistribution"]
    assert spot["OnDemandPercentageAboveBaseCapacity"] == 0
    assert by_name[cpu_provider]["MinSize"] == 0 and by_name[cpu_provider]["NewInstancesProtectedFromScaleIn"]
    overrides = by_name[gpu_provider]["MixedInstancesPolicy"]["LaunchTemplate"]["Overrides"]
    assert all(o["InstanceType"].startswith(("g4dn", "g5", "p3")) for o in overrides)
    td = e2e.ecs.describe_task_definition(taskDefinition=gpu_status["aws"]["taskDefinitionArn"])[
        "taskDefinition"
    ]
    odm = next(c for c in td["containerDefinitions"] if c["name"] == "odm")
    assert odm["resourceRequirements"] == [{"type": "GPU", "value": "1"}]


def test_a_job_with_the_same_capacity_spec_reuses_the_provider(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(ec2_job("a", ns, maxInstances=3))
    first = e2e.wait_phase(ns, "a", "Succeeded", "Failed")["status"]
    e2e.quiet()
    before = e2e.calls()
    e2e.apply(ec2_job("b", ns, maxInstances=3))
    second = e2e.wait_phase(ns, "b", "Succeeded", "Failed")["status"]
    assert second["aws"]["capacityProvider"] == first["aws"]["capacityProvider"]
    after = e2e.calls()
    assert {op: after.get(op, 0) - before.get(op, 0) for op in CREATES} == dict.fromkeys(CREATES, 0)


def test_a_provider_detached_behind_the_operators_back_is_attached_again(e2e: E2E):
    # Another tool's PutClusterCapacityProviders (Terraform's aws_ecs_cluster_capacity_providers, say) replaces the
    # whole list and drops the operator's provider while the operator remembers it as attached.
    ns = e2e.namespace()
    e2e.apply(ec2_job("first", ns, maxInstances=5))
    provider = e2e.wait_phase(ns, "first", "Succeeded", "Failed")["status"]["aws"]["capacityProvider"]
    cluster = e2e.ecs.describe_clusters(clusters=["odm"])["clusters"][0]
    e2e.ecs.put_cluster_capacity_providers(
        cluster="odm",
        capacityProviders=[p for p in cluster["capacityProviders"] if p != provider],
        defaultCapacityProviderStrategy=cluster["defaultCapacityProviderStrategy"],
    )
    e2e.apply(ec2_job("second", ns, maxInstances=5))
    job = e2e.wait_phase(ns, "second", "Succeeded", "Failed")
    status = job["status"]
    assert (status["phase"], status["aws"]["capacityProvider"]) == ("Succeeded", provider), status
    assert provider in cluster_providers(e2e)
    assert len(status["attempts"]) == 1 and len(e2e.tasks_of(job["metadata"]["uid"])) == 1


def test_a_job_waits_in_starting_with_scaling_out_until_placed(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(ec2_job("scale", ns, maxInstances=4, instanceTypes=["m6i.2xlarge"]))
    job = e2e.wait_phase(ns, "scale", "Starting", "Running", "Succeeded")
    seen_scaling_out = False
    deadline = time.monotonic() + 30
    while job["status"]["phase"] == "Starting" and time.monotonic() < deadline:
        conditions = {c["type"]: c for c in job["status"].get("conditions", [])}
        if conditions.get("CapacityReady", {}).get("reason") == "ScalingOut":
            seen_scaling_out = conditions["CapacityReady"]["status"] == "False"
        job = e2e.get(ns, "scale")
    assert seen_scaling_out, "the job showed CapacityReady=False/ScalingOut while the group scaled from zero"
    assert e2e.wait_phase(ns, "scale", "Succeeded", "Failed")["status"]["phase"] == "Succeeded"


def test_max_instances_zero_fails_with_capacity_unavailable(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(ec2_job("none", ns, maxInstances=0))
    status = e2e.wait_phase(ns, "none", "Failed")["status"]
    assert status["reason"] == "CapacityUnavailable"
    assert "maxInstances" in status["message"]


def test_resources_that_fit_no_instance_type_are_refused_at_validation(e2e: E2E):
    ns = e2e.namespace()
    job = odmjob(
        "huge",
        ns,
        resources={"cpu": 4, "memory": "64Gi"},
        capacity={"type": "ec2", "instanceTypes": ["m6i.large"]},
    )
    e2e.apply(job)
    status = e2e.wait_phase(ns, "huge", "Failed")["status"]
    assert status["reason"] == "InvalidSpec"
    assert "spec.capacity.instanceTypes" in status["message"]


@pytest.fixture
def slow_ecs_placement_timeout(e2e: E2E):
    """ECS itself gives up on an unplaceable task after 10-30 min (the agent: 30 simulated min, 3 s here). The
    operator's own timeout (20 simulated min) must be what fails the job; on a loaded machine the agent's could
    come first and turn the test into a retry story, so the agent's is pushed far out for this test."""
    agent = e2e.stack.aws.agent
    before = agent.timings
    e2e.stack.aws.set_timings(dataclasses.replace(before, provisioning_timeout_s=24 * 3600.0))
    yield
    e2e.stack.aws.set_timings(before)


@pytest.mark.usefixtures("slow_ecs_placement_timeout")
def test_a_task_that_never_gets_capacity_fails_after_the_provisioning_timeout(e2e: E2E):
    ns = e2e.namespace()
    ec2, asg = e2e.stack.client("ec2"), e2e.stack.client("autoscaling")
    ec2.create_launch_template(
        LaunchTemplateName=f"{ns}-lt", LaunchTemplateData={"InstanceType": "m6i.xlarge"}
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=f"{ns}-asg",
        MinSize=0,
        MaxSize=0,
        DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateName": f"{ns}-lt", "Version": "$Latest"},
        AvailabilityZones=["us-east-1a"],
        NewInstancesProtectedFromScaleIn=True,
    )
    arn = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{ns}-asg"])["AutoScalingGroups"][0][
        "AutoScalingGroupARN"
    ]
    e2e.ecs.create_capacity_provider(
        name=f"{ns}-cp",
        autoScalingGroupProvider={
            "autoScalingGroupArn": arn,
            "managedScaling": {"status": "ENABLED"},
            "managedTerminationProtection": "ENABLED",
        },
    )
    e2e.apply(ec2_job("stuck", ns, provider=f"{ns}-cp"))
    status = e2e.wait_phase(ns, "stuck", "Failed", "Succeeded", timeout=60)["status"]
    assert status["reason"] == "CapacityUnavailable"
    assert "raise spec.capacity.maxInstances" in status["message"]
    assert f"{ns}-cp" in cluster_providers(e2e) and "sandbox-ec2" in cluster_providers(e2e)


def test_idle_managed_capacity_is_collected_and_capacity_in_use_is_not(e2e: E2E):
    ns = e2e.namespace()
    e2e.apply(ec2_job("short", ns, maxInstances=2, instanceTypes=["m6i.2xlarge", "m5.2xlarge"]))
    idle = e2e.wait_phase(ns, "short", "Succeeded", "Failed")["status"]["aws"]["capacityProvider"]
    dataset = e2e.put_dataset(f"{ns}-long", 150)
    long_job = ec2_job("long", ns, maxInstances=2, instanceTypes=["r6i.xlarge"])
    long_job["spec"]["input"]["s3Uri"] = dataset
    e2e.apply(long_job)
    busy = e2e.wait_phase(ns, "long", "Running")["status"]["aws"]["capacityProvider"]
    assert busy != idle
    autoscaling, ec2 = e2e.stack.client("autoscaling"), e2e.stack.client("ec2")

    def collected() -> bool:  # detached first, then the group, the provider and the template go
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[idle])["AutoScalingGroups"]
        templates = [t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]]
        return idle not in cluster_providers(e2e) and groups == [] and idle not in templates

    # Grace is 3600 simulated seconds: 6 s of real time at the e2e time scale.
    e2e.eventually(collected, 60, f"idle provider {idle} still there")
    assert busy in cluster_providers(e2e)
    assert "sandbox-ec2" in cluster_providers(e2e)
    assert e2e.wait_phase(ns, "long", "Succeeded", "Failed", timeout=90)["status"]["phase"] == "Succeeded"
