"""The chart's gateway (gateway.enabled): its own Deployment, Service, service account, a Role holding exactly
the calls it makes on ODMJobs in its namespace, a Secret for the token, an optional Ingress; settings that the
gateway accepts. Rendered with the real helm (objects' validity is checked by tests/chart for all options)."""

from __future__ import annotations

import base64

import pytest

from odm_operator.gateway.settings import GatewaySettings
from tests.chart.conftest import of_kind, render

BASE = (
    "--set", "gateway.enabled=true",
    "--set", "gateway.config.stagingUri=s3://drone-raw/gateway/",
    "--set", "gateway.config.outputUri=s3://drone-products/gateway/",
)  # fmt: skip


def gateway_objects(*args: str) -> dict[str, list[dict]]:
    docs = [
        d
        for d in render((*BASE, *args))
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "gateway"
    ]
    out: dict[str, list[dict]] = {}
    for doc in docs:
        out.setdefault(doc["kind"], []).append(doc)
    return out


def test_by_default_there_is_no_gateway():
    docs = render("defaults")
    assert not [d for d in docs if "gateway" in d["metadata"]["name"]]


def test_the_gateway_gets_its_own_deployment_service_account_and_token_secret():
    objects = gateway_objects()
    assert sorted(objects) == ["Deployment", "Role", "RoleBinding", "Secret", "Service", "ServiceAccount"]
    (deployment,) = objects["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["odm-operator", "gateway"]
    assert pod["serviceAccountName"] == objects["ServiceAccount"][0]["metadata"]["name"]
    token = {e["name"]: e for e in container["env"]}["ODM_GATEWAY_TOKEN"]["valueFrom"]["secretKeyRef"]
    (secret,) = objects["Secret"]
    assert token == {"name": secret["metadata"]["name"], "key": "token"}
    assert len(base64.b64decode(secret["data"]["token"])) >= 32  # generated when none is given
    (service,) = objects["Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    operator = next(
        d
        for d in of_kind(render((*BASE,)), "Deployment")
        if d is not deployment and "gateway" not in d["metadata"]["name"]
    )
    selector = operator["spec"]["selector"]["matchLabels"].items()
    assert not selector <= deployment["spec"]["template"]["metadata"]["labels"].items()  # no overlap of pods


def test_the_gateway_role_holds_exactly_its_calls_on_odmjobs_in_its_namespace():
    objects = gateway_objects("--set", "gateway.namespace=mapping")
    (role,) = objects["Role"]
    assert role["metadata"]["namespace"] == "mapping"
    assert role["rules"] == [
        {
            "apiGroups": ["odm-operator.io"],
            "resources": ["odmjobs"],
            "verbs": ["list", "create", "patch", "delete"],
        }
    ]
    (binding,) = objects["RoleBinding"]
    assert binding["metadata"]["namespace"] == "mapping"
    assert binding["subjects"][0]["name"] == objects["ServiceAccount"][0]["metadata"]["name"]
    assert not of_kind(render((*BASE,)), "ClusterRoleBinding") or all(
        s["name"] != objects["ServiceAccount"][0]["metadata"]["name"]
        for b in of_kind(render((*BASE,)), "ClusterRoleBinding")
        for s in b["subjects"]
    )


def test_an_existing_secret_replaces_the_generated_one_and_a_given_token_is_kept():
    assert "Secret" not in gateway_objects("--set", "gateway.existingSecret=mine")
    (secret,) = gateway_objects("--set", "gateway.token=s3cret-token-0123456789")["Secret"]
    assert base64.b64decode(secret["data"]["token"]) == b"s3cret-token-0123456789"


def test_the_ingress_is_optional_and_routes_to_the_service():
    assert "Ingress" not in gateway_objects()
    (ingress,) = gateway_objects(
        "--set", "gateway.ingress.enabled=true", "--set", "gateway.ingress.host=odm.example.com"
    )["Ingress"]
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "odm.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "nodeodm"}


@pytest.mark.parametrize(
    "values",
    [
        pytest.param((), id="defaults"),
        pytest.param(("-f", "tests/chart/values-all-options.yaml"), id="all-options"),
    ],
)
def test_every_rendered_gateway_setting_is_one_the_gateway_accepts(values, monkeypatch):
    (deployment,) = gateway_objects(*values)["Deployment"]
    env = {
        e["name"]: e["value"]
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        if "value" in e
    }
    fields = {k.removeprefix("ODM_GATEWAY_").lower(): v for k, v in env.items()}
    assert set(fields) <= set(GatewaySettings.model_fields)
    monkeypatch.setenv("ODM_GATEWAY_TOKEN", "from-the-secret-0123456789")  # the Secret's key, in the pod
    for name, value in env.items():  # as the pod reads them: from its environment (JSON maps included)
        monkeypatch.setenv(name, value)
    settings = GatewaySettings()
    assert settings.staging_uri == env["ODM_GATEWAY_STAGING_URI"]


def test_the_gateway_needs_its_s3_locations():
    from tests.chart.conftest import CHART, helm

    result = helm("template", "r", str(CHART), "--set", "gateway.enabled=true", check=False)
    assert result.returncode != 0 and "gateway.config.stagingUri is required" in result.stderr


def test_split_merge_gives_the_operator_the_task_facing_url_and_the_gateways_token_from_its_secret():
    docs = render((*BASE, "--set", "config.splitMergeUrl=http://odm-gateway.internal:3000"))
    operator = next(d for d in of_kind(docs, "Deployment") if "gateway" not in d["metadata"]["name"])
    env = {e["name"]: e for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ODM_OPERATOR_SPLIT_MERGE_URL"]["value"] == "http://odm-gateway.internal:3000"
    (secret,) = [d for d in of_kind(docs, "Secret") if d["metadata"]["name"].endswith("-gateway")]
    assert env["ODM_OPERATOR_SPLIT_MERGE_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": secret["metadata"]["name"],
        "key": "token",
    }
    plain = next(d for d in of_kind(render(BASE), "Deployment") if "gateway" not in d["metadata"]["name"])
    assert "ODM_OPERATOR_SPLIT_MERGE_URL" not in str(plain)


def test_the_task_facing_service_is_an_internal_load_balancer_limited_to_the_tasks_subnets():
    assert len(gateway_objects()["Service"]) == 1
    services = gateway_objects("--set", "gateway.splitMerge.taskService.enabled=true",
                               "--set", "gateway.splitMerge.taskService.loadBalancerSourceRanges={10.0.0.0/16}")["Service"]  # fmt: skip
    (tasks,) = [s for s in services if s["metadata"]["name"].endswith("-gateway-tasks")]
    assert tasks["spec"]["type"] == "LoadBalancer"
    assert (
        tasks["metadata"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    )
    assert tasks["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/16"]
    assert tasks["spec"]["ports"][0]["targetPort"] == "nodeodm"
