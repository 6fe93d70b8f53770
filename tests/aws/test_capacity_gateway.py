"""The capacity gateway and the janitor against the AWS emulator: create once, keep others' providers, collect
only idle capacity the operator made."""

from __future__ import annotations

import threading

import pytest

from odm_operator.api.validation import parse_spec
from odm_operator.aws.capacity_providers import CapacityGateway
from odm_operator.aws.ecs import EcsGateway
from odm_operator.plan.desired import JobRef, plan_job
from odm_operator.runtime.janitor import Janitor
from odm_operator.settings import Settings

SPEC = {
    "input": {"s3Uri": "s3://in-bucket/x/"},
    "output": {"s3Uri": "s3://out-bucket/x/"},
    "resources": {"cpu": 4, "memory": "16Gi"},
    "capacity": {"type": "ec2", "spot": True, "maxInstances": 3},
}


def desired(client, **capacity):
    subnets = [s["SubnetId"] for s in client("ec2").describe_subnets()["Subnets"]][:2]
    spec = parse_spec({**SPEC, "capacity": {**SPEC["capacity"], **capacity}})
    return plan_job(spec, Settings(subnets=subnets), JobRef("ns", "job", "uid")).capacity


def gateway(client) -> CapacityGateway:
    return CapacityGateway(client("ec2"), client("autoscaling"), EcsGateway(client("ecs")))


def foreign_provider(client, name: str = "team-cp") -> None:
    asg = client("autoscaling")
    client("ec2").create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"InstanceType": "m5.large"}
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=1,
        AvailabilityZones=["us-east-1a"],
        LaunchTemplate={"LaunchTemplateName": name},
    )
    arn = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
        "AutoScalingGroupARN"
    ]
    client("ecs").create_capacity_provider(name=name, autoScalingGroupProvider={"autoScalingGroupArn": arn})


def providers_of(client, cluster: str = "odm") -> list[str]:
    return client("ecs").describe_clusters(clusters=[cluster])["clusters"][0]["capacityProviders"]


def test_ensure_creates_template_group_and_provider_once_and_keeps_other_providers(aws, client):
    foreign_provider(client)
    client("ecs").create_cluster(clusterName="odm", capacityProviders=["FARGATE", "team-cp"])
    cap = desired(client)
    assert gateway(client).ensure("odm", cap.provider, cap.requests) is True
    assert set(providers_of(client)) == {"FARGATE", "team-cp", cap.provider}
    before = aws.counters.snapshot()["calls"]
    assert gateway(client).ensure("odm", cap.provider, cap.requests) is False, (
        "a fresh gateway observes, creates nothing"
    )
    after = aws.counters.snapshot()["calls"]
    created = [op for op in after if op.split(":")[1].startswith("Create") and after[op] != before.get(op, 0)]
    assert created == []
    group = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[cap.provider])[
        "AutoScalingGroups"
    ][0]
    assert (group["MinSize"], group["MaxSize"], group["CapacityRebalance"]) == (0, 3, False)


def test_a_half_created_set_is_completed_not_duplicated(aws, client):
    client("ecs").create_cluster(clusterName="odm")
    cap = desired(client)
    client("ec2").create_launch_template(**cap.requests["launchTemplate"])  # an operator died after this
    assert gateway(client).ensure("odm", cap.provider, cap.requests) is True
    templates = client("ec2").describe_launch_templates(LaunchTemplateNames=[cap.provider])["LaunchTemplates"]
    assert len(templates) == 1
    assert cap.provider in providers_of(client)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_janitor_deletes_only_idle_capacity_it_created(aws, client):
    foreign_provider(client)
    client("ecs").create_cluster(clusterName="odm", capacityProviders=["team-cp"])
    gw = gateway(client)
    idle, busy = desired(client), desired(client, spot=False)
    gw.ensure("odm", idle.provider, idle.requests)
    gw.ensure("odm", busy.provider, busy.requests)
    clock = FakeClock()
    janitor = Janitor(gw, lambda name: "odm", grace=3600, clock=clock)
    assert janitor.sweep() == [], "right after start-up everything counts as recently used"
    clock.now += 3000
    janitor.touch(busy.provider)
    clock.now += 1000
    assert janitor.sweep() == [idle.provider]
    assert set(providers_of(client)) == {"team-cp", busy.provider}
    assert (
        client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[idle.provider])[
            "AutoScalingGroups"
        ]
        == []
    )
    names = [t["LaunchTemplateName"] for t in client("ec2").describe_launch_templates()["LaunchTemplates"]]
    assert idle.provider not in names and busy.provider in names and "team-cp" in names


def test_the_janitor_leaves_a_provider_alone_while_a_job_is_starting_a_task_on_it(aws, client):
    client("ecs").create_cluster(clusterName="odm")
    gw = gateway(client)
    cap = desired(client)
    gw.ensure("odm", cap.provider, cap.requests)
    clock = FakeClock()
    janitor = Janitor(gw, lambda name: "odm", grace=3600, clock=clock)
    with janitor.using(cap.provider):
        clock.now += 7200  # RunTask throttled for longer than the grace period
        assert janitor.sweep() == []
        assert cap.provider in providers_of(client)
    assert janitor.sweep() == [], "releasing the provider counts as using it"
    clock.now += 3600
    assert janitor.sweep() == [cap.provider]


class GatewayWithAJobArriving(CapacityGateway):
    """Starts ``job`` right when the janitor begins deleting, and notes whether it got in before the deletion."""

    job: threading.Thread
    entered: threading.Event
    got_in_during_deletion: bool | None = None

    def delete(self, cluster: str, name: str) -> bool:
        self.job.start()
        # Proving a negative needs a window: a job that did not wait would be inside at once.
        self.got_in_during_deletion = self.entered.wait(timeout=0.3)
        return super().delete(cluster, name)


def test_a_job_that_wants_a_provider_being_deleted_waits_for_the_deletion(aws, client):
    client("ecs").create_cluster(clusterName="odm")
    gw = GatewayWithAJobArriving(client("ec2"), client("autoscaling"), EcsGateway(client("ecs")))
    cap = desired(client)
    gw.ensure("odm", cap.provider, cap.requests)
    clock = FakeClock()
    janitor = Janitor(gw, lambda name: "odm", grace=3600, clock=clock)
    clock.now += 3600
    found: list[bool] = []

    def job() -> None:
        with janitor.using(cap.provider):
            gw.entered.set()
            found.append(cap.provider in providers_of(client))

    gw.job, gw.entered = threading.Thread(target=job), threading.Event()
    assert janitor.sweep() == [cap.provider]
    gw.job.join(timeout=10)
    assert gw.got_in_during_deletion is False
    assert found == [False], "the job waited, then found the provider gone"
    assert gw.ensure("odm", cap.provider, cap.requests) is True, "and it is created again for the job"


def test_the_gateway_refuses_to_delete_a_provider_it_did_not_create(aws, client):
    with pytest.raises(ValueError, match="not an operator-managed provider"):
        gateway(client).delete("odm", "team-cp")


def test_a_provider_named_like_ours_but_without_our_tag_is_never_deleted(aws, client):
    foreign_provider(client, name="odm-team")
    client("ecs").create_cluster(clusterName="odm", capacityProviders=["odm-team"])
    assert gateway(client).delete("odm", "odm-team") is False
    assert "odm-team" in providers_of(client)
