"""EC2 capacity gateway: launch templates, Auto Scaling groups and ECS capacity providers the operator manages.

Everything it creates is named ``odm-<hash>`` and tagged ``odm-operator.io/managed-by=odm-operator``; deletion
only ever considers resources with both, so nothing else in the account is touched. Ensuring is observe-then-
create for each of the three resources, so a half-created set (an operator killed midway) is completed on the
next pass instead of duplicated.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import contract
from .ecs import EcsGateway, aws_call
from .errors import PROVIDER_QUOTA, AwsCallError, is_not_found

log = logging.getLogger(__name__)

# PutClusterCapacityProviders answers UpdateInProgress while the cluster applies a previous change, and
# ResourceInUse while a provider being removed still has tasks; ECS settles within seconds.
ATTACH_ATTEMPTS = 6
ATTACH_BACKOFF_SECONDS = 1.0
MANAGED_PREFIX = "odm-"
# Capacity providers per cluster, FARGATE and FARGATE_SPOT included (ECS service quotas, not adjustable).
MAX_PROVIDERS_PER_CLUSTER = 20
# The code of the error a pass gets when the cluster has no room for another provider: the job waits (the janitor
# deletes idle providers after capacityGraceSeconds) rather than failing.
QUOTA_FULL = PROVIDER_QUOTA


class ProviderQuotaFull(AwsCallError):
    def __init__(self, cluster: str, count: int):
        super().__init__(
            "PutClusterCapacityProviders",
            ClientError(
                {
                    "Error": {
                        "Code": QUOTA_FULL,
                        "Message": f"cluster {cluster} has {count} capacity providers, ECS's limit is "
                        f"{MAX_PROVIDERS_PER_CLUSTER}; waiting for idle operator-managed capacity to be deleted",
                    }
                },
                "PutClusterCapacityProviders",
            ),
        )
        self.kind = "transient"


class CapacityGateway:
    def __init__(self, ec2: Any, autoscaling: Any, ecs: EcsGateway):
        self.ec2 = ec2
        self.autoscaling = autoscaling
        self.ecs = ecs
        self._ready: set[tuple[str, str]] = set()  # (cluster, provider) known to exist and be attached
        self._creating: set[str] = set()  # providers a pass is ensuring right now
        self._max_size: dict[str, int] = {}  # group -> its MaxSize as last seen or set
        self._lock = threading.Lock()

    def ensure(self, cluster: str, name: str, requests: dict[str, Any]) -> bool:
        """Launch template, group and provider exist and the provider is attached; True if anything was created."""
        wanted = int(requests["autoScalingGroup"]["MaxSize"])
        if (cluster, name) in self._ready and wanted <= self._max_size.get(name, wanted):
            return False
        with self._lock:
            if (cluster, name) in self._ready:
                self._raise_max_size(name, wanted)
                return False
            self._creating.add(name)
            try:
                self._check_quota(cluster, name)
                template = self._ensure_template(name, requests["launchTemplate"])
                group = provider = False
                try:
                    group_arn, group = self._ensure_group(name, requests["autoScalingGroup"])
                    provider = self._ensure_provider(name, group_arn, requests["capacityProvider"])
                except AwsCallError as exc:
                    if (
                        exc.kind == "terminal"
                    ):  # AWS refused the request itself: retrying cannot complete the set
                        self._roll_back(name, template, group)
                    raise
                created = template or group or provider
                self.attach(cluster, name)
                self._ready.add((cluster, name))
            finally:
                self._creating.discard(name)
        return created

    def _roll_back(self, name: str, template: bool, group: bool) -> None:
        """Delete what this pass created when a later create was refused, so nothing is left for no provider (the
        janitor only knows providers). Best effort: the refusal is what the job reports."""
        try:
            if group:
                self.autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
                self._max_size.pop(name, None)
            if template:
                self.ec2.delete_launch_template(LaunchTemplateName=name)
            log.info("Rolled back a refused capacity set name=%s template=%s group=%s", name, template, group)
        except (ClientError, BotoCoreError) as exc:
            log.warning("Rolling back a refused capacity set failed name=%s: %s", name, exc)

    def _check_quota(self, cluster: str, name: str) -> None:
        """Refuse (ProviderQuotaFull) before creating anything when the cluster cannot take another provider."""
        providers = self.ecs.cluster_providers(cluster)
        if providers is not None and name not in providers and len(providers) >= MAX_PROVIDERS_PER_CLUSTER:
            raise ProviderQuotaFull(cluster, len(providers))

    def _raise_max_size(self, name: str, wanted: int) -> None:
        """Jobs share a group whatever their maxInstances: its MaxSize is the largest any of them asked for."""
        if wanted <= self._max_size.get(name, 0):
            return
        with aws_call("UpdateAutoScalingGroup"):
            self.autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=wanted)
        self._max_size[name] = wanted
        log.info("Raised the Auto Scaling group's MaxSize name=%s max=%d", name, wanted)

    def creating(self) -> bool:
        """Whether any pass is creating a provider right now (then ``busy`` is worth asking)."""
        return bool(self._creating)

    def busy(self, cluster: str, name: str) -> bool:
        """Another pass is ensuring this provider right now (a pass needing it would only wait for that one)."""
        return (cluster, name) not in self._ready and name in self._creating

    def ensure_attached(self, cluster: str, name: str) -> None:
        """An existing provider (not ours) is attached to the cluster; the operator never changes it otherwise."""
        if (cluster, name) in self._ready:
            return
        with self._lock:
            self.attach(cluster, name)
            self._ready.add((cluster, name))

    def forget(self, cluster: str, name: str) -> None:
        """Check the provider and its attachment again on the next ensure."""
        with self._lock:
            self._ready.discard((cluster, name))

    def _ensure_template(self, name: str, request: dict[str, Any]) -> bool:
        try:
            self.ec2.describe_launch_templates(LaunchTemplateNames=[name])
            return False
        except ClientError as exc:
            if not is_not_found(exc):
                raise AwsCallError("DescribeLaunchTemplates", exc) from exc
        except BotoCoreError as exc:
            raise AwsCallError("DescribeLaunchTemplates", exc) from exc
        with aws_call("CreateLaunchTemplate"):
            self.ec2.create_launch_template(**request)
        log.info("Created launch template name=%s", name)
        return True

    def _ensure_group(self, name: str, request: dict[str, Any]) -> tuple[str, bool]:
        with aws_call("DescribeAutoScalingGroups"):
            found = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
                "AutoScalingGroups"
            ]
        if found:
            self._max_size[name] = int(found[0].get("MaxSize", 0))
            self._raise_max_size(name, int(request["MaxSize"]))
            return found[0]["AutoScalingGroupARN"], False
        with aws_call("CreateAutoScalingGroup"):
            self.autoscaling.create_auto_scaling_group(**request)
        with aws_call("DescribeAutoScalingGroups"):
            found = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
                "AutoScalingGroups"
            ]
        self._max_size[name] = int(request["MaxSize"])
        log.info("Created Auto Scaling group name=%s", name)
        return found[0]["AutoScalingGroupARN"], True

    def _ensure_provider(self, name: str, group_arn: str, request: dict[str, Any]) -> bool:
        with aws_call("DescribeCapacityProviders"):
            found = self.ecs.client.describe_capacity_providers(capacityProviders=[name]).get(
                "capacityProviders", []
            )
        if any(p.get("status") == "ACTIVE" for p in found):
            return False
        body = dict(request)
        body["autoScalingGroupProvider"] = {
            **request["autoScalingGroupProvider"],
            "autoScalingGroupArn": group_arn,
        }
        with aws_call("CreateCapacityProvider"):
            self.ecs.client.create_capacity_provider(**body)
        log.info("Created capacity provider name=%s", name)
        return True

    def attach(self, cluster: str, name: str) -> None:
        """Attach keeping every provider already on the cluster, retried while ECS is busy with the cluster."""
        for attempt in range(ATTACH_ATTEMPTS):
            try:
                self.ecs.attach_provider(cluster, name)
                return
            except AwsCallError as exc:
                if exc.code not in ("UpdateInProgressException", "ResourceInUseException") or (
                    attempt == ATTACH_ATTEMPTS - 1
                ):
                    raise
                time.sleep(ATTACH_BACKOFF_SECONDS * (attempt + 1))

    # ----- garbage collection --------------------------------------------------------------------------------

    def managed_providers(self) -> list[str]:
        """Names of the capacity providers this operator created (name prefix and managed-by tag)."""
        names: list[str] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"include": ["TAGS"]}
            if token:
                kwargs["nextToken"] = token
            with aws_call("DescribeCapacityProviders"):
                page = self.ecs.client.describe_capacity_providers(**kwargs)
            for provider in page.get("capacityProviders", []):
                tags = {t.get("key"): t.get("value") for t in provider.get("tags", [])}
                if (
                    provider.get("name", "").startswith(MANAGED_PREFIX)
                    and provider.get("status") == "ACTIVE"
                    and tags.get(contract.TAG_MANAGED_BY) == contract.MANAGED_BY_VALUE
                ):
                    names.append(provider["name"])
            token = page.get("nextToken")
            if not token:
                return names

    def delete(self, cluster: str, name: str) -> bool:
        """Detach, scale to zero and delete the provider, its group and template. False if still in use."""
        if not name.startswith(MANAGED_PREFIX):
            raise ValueError(f"refusing to delete {name!r}: not an operator-managed provider")
        with aws_call("DescribeCapacityProviders"):
            found = self.ecs.client.describe_capacity_providers(capacityProviders=[name], include=["TAGS"])
        tags = {
            t.get("key"): t.get("value")
            for p in found.get("capacityProviders", [])
            for t in p.get("tags", [])
        }
        if tags.get(contract.TAG_MANAGED_BY) != contract.MANAGED_BY_VALUE:
            log.warning("Kept capacity provider without the operator's tag name=%s", name)
            return False
        with self._lock:
            try:
                self.ecs.detach_provider(cluster, name)
            except AwsCallError as exc:
                if exc.code == "ResourceInUseException":
                    return False
                raise
            self._ready.discard((cluster, name))
            self._max_size.pop(name, None)
            with aws_call("UpdateAutoScalingGroup"):
                try:
                    self.autoscaling.update_auto_scaling_group(
                        AutoScalingGroupName=name, MinSize=0, MaxSize=0, DesiredCapacity=0
                    )
                except ClientError as exc:
                    if not is_not_found(exc):
                        raise
            with aws_call("DeleteCapacityProvider"):
                self.ecs.client.delete_capacity_provider(capacityProvider=name)
            with aws_call("DeleteAutoScalingGroup"):
                try:
                    self.autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
                except ClientError as exc:
                    if not is_not_found(exc):
                        raise
            try:
                self.ec2.delete_launch_template(LaunchTemplateName=name)
            except ClientError as exc:
                if not is_not_found(exc):
                    raise AwsCallError("DeleteLaunchTemplate", exc) from exc
        log.info("Deleted capacity provider, group and launch template name=%s", name)
        return True
