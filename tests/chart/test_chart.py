"""The Helm chart, checked with the real helm binary: lint, render, schema, Kubernetes validity, security, RBAC,
settings, probes, metrics, peering and the install notes."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import TypeAdapter

from odm_operator import __version__
from odm_operator.plan.admission import check_job
from odm_operator.settings import Settings

from .conftest import (
    ALL_OPTIONS,
    CHART,
    KUBERNETES_VERSION,
    NAMESPACE,
    REPO,
    VALUES,
    WORKLOAD_KINDS,
    container,
    env,
    helm,
    of_kind,
    render,
    the,
    values_file,
)

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
DEFAULTS = values_file(CHART / "values.yaml")
# Values whose content is a Kubernetes type passed through as it is: setting them at all counts as "set".
PASSTHROUGH = frozenset(
    {
        "global",
        "imagePullSecrets",
        "extraEnv",
        "podSecurityContext",
        "securityContext",
        "resources",
        "livenessProbe",
        "readinessProbe",
        "tolerations",
        "affinity",
        "topologySpreadConstraints",
    }
)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


# ----- the chart as a package ------------------------------------------------------------------------------------


def test_the_chart_app_version_is_the_operator_version():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__


def test_the_chart_crd_is_the_repository_crd():
    chart_crd = (CHART / "crds" / "odmjobs.odm-operator.io.yaml").read_text()
    assert chart_crd == (REPO / "crds" / "odmjobs.odm-operator.io.yaml").read_text(), (
        "helm/odm-operator/crds/ is stale: run `make crd` (it copies crds/ into the chart)"
    )


@pytest.mark.parametrize("name", ["kopfpeerings.kopf.dev.yaml", "clusterkopfpeerings.kopf.dev.yaml"])
def test_the_chart_peering_crds_are_the_ones_kopf_and_the_sandbox_use(name):
    sandbox = REPO / "sandbox" / "odm_sandbox" / "kube" / "crds" / name
    assert yaml.safe_load((CHART / "crds" / name).read_text()) == yaml.safe_load(sandbox.read_text())


@pytest.mark.parametrize("values", ["defaults", "all-options", "namespaced", "peering"])
def test_helm_lint_strict_passes(values):
    result = helm("lint", "--strict", str(CHART), *VALUES[values])
    assert "0 chart(s) failed" in result.stdout


# ----- values and their schema -----------------------------------------------------------------------------------


def _schema_leaves(schema: dict[str, Any], path: str = "") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, sub in schema.get("properties", {}).items():
        key = f"{path}.{name}" if path else name
        if key in PASSTHROUGH or sub.get("type") != "object" or "properties" not in sub:
            out[key] = sub
        else:
            out.update(_schema_leaves(sub, key))
    return out


def _lookup(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return KeyError
        node = node[part]
    return node


def _value_leaves(values: dict[str, Any], path: str = "") -> list[str]:
    out = []
    for name, value in values.items():
        key = f"{path}.{name}" if path else name
        if isinstance(value, dict) and value and key not in PASSTHROUGH and _is_closed(key):
            out.extend(_value_leaves(value, key))
        else:
            out.append(key)
    return out


def _is_closed(path: str) -> bool:
    node: Any = SCHEMA
    for part in path.split("."):
        node = node.get("properties", {}).get(part, {})
    return "properties" in node


def test_the_schema_describes_every_value_and_closes_every_object():
    leaves = _schema_leaves(SCHEMA)
    undocumented = [p for p, s in leaves.items() if not s.get("description")]
    assert undocumented == []
    assert set(_value_leaves(DEFAULTS)) <= set(leaves) | {"global"}, "values.yaml holds keys the schema lacks"

    def closed(node: dict[str, Any], path: str) -> list[str]:
        bad = [path] if "properties" in node and node.get("additionalProperties") is not False else []
        for name, sub in node.get("properties", {}).items():
            bad += closed(sub, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            bad += closed(node["items"], f"{path}[]")
        return bad

    assert closed(SCHEMA, "values") == []


def test_the_all_options_file_sets_every_value_to_something_else_than_its_default():
    chosen = values_file(ALL_OPTIONS)
    unset = [p for p in _schema_leaves(SCHEMA) if _lookup(chosen, p) is KeyError]
    assert unset == [], f"{ALL_OPTIONS.name} does not set {unset}"
    # Left at their defaults on purpose: the other value would turn off what the file exercises.
    kept = {
        "rbac.create",
        "rbac.clusterObservation",
        "serviceAccount.create",
        "metrics.service.enabled",
        "metrics.service.type",
        "grafanaDashboard.labels",
    }
    same = [
        p
        for p in _schema_leaves(SCHEMA)
        if p not in kept | PASSTHROUGH and _lookup(chosen, p) == _lookup(DEFAULTS, p)
    ]
    assert same == [], f"{ALL_OPTIONS.name} leaves these at their defaults: {same}"


WRONG_TYPES = [
    ("replicaCount=two", "/replicaCount"),
    ("config.subnets=subnet-0abc", "/config/subnets"),
    ("config.createCluster=yes", "/config/createCluster"),
    ("config.pollIntervalSeconds=soon", "/config/pollIntervalSeconds"),
    ("config.metricsPort=70000", "/config/metricsPort"),
    ("config.taskRoleArn=odm-job", "/config/taskRoleArn"),
    ("watchNamespaces=mapping", "/watchNamespaces"),
    ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
    ("securityContext.readOnlyRootFileSystem=true", "/securityContext"),
    ("config.subnetz={subnet-0abc}", "/config"),
    ("replicas=2", ""),
]


@pytest.mark.parametrize(("setting", "where"), WRONG_TYPES, ids=[s for s, _ in WRONG_TYPES])
def test_the_schema_rejects_wrong_types_and_unknown_keys(setting, where):
    result = helm("template", "x", str(CHART), "--set", setting, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert f"at '{where}'" in result.stderr, result.stderr


# ----- valid Kubernetes objects ----------------------------------------------------------------------------------


def _validate(doc: dict[str, Any], crds: dict[str, dict[str, Any]]) -> None:
    kind = doc["kind"]
    if kind == "ServiceMonitor":  # no schema offline: the fields the Prometheus Operator needs
        spec = doc["spec"]
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        assert spec["selector"]["matchLabels"] and spec["endpoints"][0]["port"]
        return
    if kind in crds:  # our own and kopf's custom resources: their CRD's schema
        jsonschema.validate(doc, crds[kind])
        return
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _custom_schemas(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for crd in of_kind(docs, "CustomResourceDefinition"):
        out[crd["spec"]["names"]["kind"]] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return out


@pytest.mark.parametrize("values", list(VALUES))
def test_every_rendered_object_is_a_valid_kubernetes_object(values):
    docs = render(values)
    crds = _custom_schemas(docs)
    for doc in docs:
        try:
            _validate(doc, crds)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
            pytest.fail(
                f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.absolute_path)}"
            )


def test_the_validator_rejects_what_a_cluster_would():
    deployment = render("defaults")
    bad = json.loads(json.dumps(the(deployment, "Deployment")))
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy2"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)
    bad = json.loads(json.dumps(the(deployment, "Deployment")))
    bad["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def _pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for doc in docs:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        spec = doc["spec"]
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        out.append((f"{doc['kind']}/{doc['metadata']['name']}", spec.get("template", {}).get("spec", spec)))
    return out


@pytest.mark.parametrize("values", list(VALUES))
def test_every_workload_runs_non_root_read_only_unprivileged_with_seccomp(values):
    workloads = _pod_specs(render(values))
    assert workloads
    for name, pod in workloads:
        pod_context = pod.get("securityContext") or {}
        for c in pod.get("initContainers", []) + pod["containers"]:
            context = c.get("securityContext") or {}
            where = f"{name} container {c['name']}"
            assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, where
            assert context.get("runAsUser", pod_context.get("runAsUser", 1)) != 0, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("privileged", False) is False, where
            assert "ALL" in (context.get("capabilities") or {}).get("drop", []), where
            assert not (context.get("capabilities") or {}).get("add"), where
            seccomp = context.get("seccompProfile") or pod_context.get("seccompProfile") or {}
            assert seccomp.get("type") == "RuntimeDefault", where
            assert c.get("resources", {}).get("requests") and c["resources"].get("limits", {}).get(
                "memory"
            ), where
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), name


# ----- RBAC ------------------------------------------------------------------------------------------------------

JOB_RULES = [
    {
        "apiGroups": ["odm-operator.io"],
        "resources": ["odmjobs"],
        "verbs": ["list", "watch", "patch", "delete"],
    },
    {"apiGroups": ["odm-operator.io"], "resources": ["odmjobs/status"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
]
CRD_OBSERVATION = {
    "apiGroups": ["apiextensions.k8s.io"],
    "resources": ["customresourcedefinitions"],
    "verbs": ["list", "watch"],
}
NAMESPACE_OBSERVATION = {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}


TENANT_ROLE_SUFFIXES = ("-edit", "-view")


def _operator_cluster_roles(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ClusterRoles bound to the operator (the tenant roles are checked on their own)."""
    return [
        r for r in of_kind(docs, "ClusterRole") if not r["metadata"]["name"].endswith(TENANT_ROLE_SUFFIXES)
    ]


def _peering_rules(resource: str, name: str) -> list[dict[str, Any]]:
    return [
        {"apiGroups": ["kopf.dev"], "resources": [resource], "verbs": ["list", "watch"]},
        {"apiGroups": ["kopf.dev"], "resources": [resource], "resourceNames": [name], "verbs": ["patch"]},
    ]


@pytest.mark.parametrize("values", list(VALUES))
def test_no_role_grants_wildcards_or_secrets(values):
    for role in of_kind(render(values), "ClusterRole") + of_kind(render(values), "Role"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert not any("*" in item for item in rule.get(field, [])), (
                    f"{role['metadata']['name']}: {rule}"
                )
            assert not {"secrets", "configmaps", "pods"} & set(rule["resources"])
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


def test_cluster_wide_the_cluster_role_holds_exactly_the_operators_calls():
    docs = render("defaults")
    (role,) = _operator_cluster_roles(docs)
    assert role["rules"] == [*JOB_RULES, CRD_OBSERVATION]
    assert of_kind(docs, "Role") == [] and of_kind(docs, "RoleBinding") == []
    (binding,) = of_kind(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    sa = the(docs, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert container(docs)["args"][0] == "--all-namespaces"


def test_watch_namespaces_switch_to_a_role_per_namespace():
    docs = render("namespaced")
    roles = {r["metadata"]["namespace"]: r for r in of_kind(docs, "Role")}
    assert set(roles) == {"mapping", "survey"}
    for role in roles.values():
        assert role["rules"] == JOB_RULES
    assert {b["metadata"]["namespace"] for b in of_kind(docs, "RoleBinding")} == {"mapping", "survey"}
    (observer,) = _operator_cluster_roles(docs)
    assert observer["rules"] == [NAMESPACE_OBSERVATION, CRD_OBSERVATION], (
        "cluster-wide: read-only observation only"
    )
    args = container(docs)["args"]
    assert "--namespace=mapping" in args and "--namespace=survey" in args and "--all-namespaces" not in args


def test_watch_namespaces_without_cluster_observation_grant_nothing_cluster_wide():
    docs = render("namespaced-without-cluster-access")
    assert _operator_cluster_roles(docs) == [] and of_kind(docs, "ClusterRoleBinding") == []
    assert [r["metadata"]["namespace"] for r in of_kind(docs, "Role")] == ["mapping"]


def test_more_than_one_replica_peers_through_a_peering_object_the_chart_creates():
    docs = render("peering")
    deployment = the(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert "--peering=odm-operator" in container(docs)["args"]
    assert "--standalone" not in container(docs)["args"]
    assert env(docs)["POD_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}, "kopf names peers by pod"
    peering = the(docs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "odm-operator"
    (role,) = _operator_cluster_roles(docs)
    assert role["rules"] == [
        *JOB_RULES,
        *_peering_rules("clusterkopfpeerings", "odm-operator"),
        CRD_OBSERVATION,
    ]


def test_namespaced_peering_uses_a_kopf_peering_in_each_namespace():
    docs = render("all-options")
    assert {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in of_kind(docs, "KopfPeering")} == {
        ("mapping", "odm-prod"),
        ("survey", "odm-prod"),
    }
    for role in (
        r
        for r in of_kind(docs, "Role")
        if r["metadata"]["labels"]["app.kubernetes.io/component"] != "gateway"
    ):
        assert role["rules"] == [*JOB_RULES, *_peering_rules("kopfpeerings", "odm-prod")]


@pytest.mark.parametrize("values", ["defaults", "namespaced"])
def test_tenant_roles_aggregate_into_edit_and_view_without_status(values):
    roles = {r["metadata"]["name"]: r for r in of_kind(render(values), "ClusterRole")}
    edit, view = roles["odm-operator-edit"], roles["odm-operator-view"]
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    for role in (edit, view):
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert resources == {"odmjobs"}, "never odmjobs/status: a tenant writing it could aim the operator"
    assert {v for rule in view["rules"] for v in rule["verbs"]} == {"get", "list", "watch"}
    assert "create" in edit["rules"][0]["verbs"] and "delete" in edit["rules"][0]["verbs"]
    bound = {b["roleRef"]["name"] for b in of_kind(render(values), "ClusterRoleBinding")}
    assert not bound & set(TENANT_ROLE_SUFFIXES), "the chart binds them to nobody"
    assert not {"odm-operator-edit", "odm-operator-view"} & bound


def test_tenant_roles_can_be_left_out():
    names = {r["metadata"]["name"] for r in of_kind(render("all-options"), "ClusterRole")}
    assert not any(n.endswith(TENANT_ROLE_SUFFIXES) for n in names)


def test_the_network_policy_is_off_by_default_and_closes_ingress_and_egress_when_on():
    assert of_kind(render("defaults"), "NetworkPolicy") == []
    docs = render("all-options")
    policy = the(docs, "NetworkPolicy")["spec"]
    pod_labels = the(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert ingress["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    ports = sorted((p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"])
    assert ports == [(53, "TCP"), (53, "UDP"), (443, "TCP")]
    assert all("to" not in rule for rule in policy["egress"]), "by port: API server and AWS addresses vary"


def test_one_replica_runs_standalone_and_is_replaced_not_rolled():
    docs = render("defaults")
    deployment = the(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--standalone" in container(docs)["args"]
    assert of_kind(docs, "ClusterKopfPeering") == [] and of_kind(docs, "KopfPeering") == []


# ----- settings --------------------------------------------------------------------------------------------------


def test_every_operator_setting_is_a_chart_value_and_nothing_else_is():
    settings = {camel(name) for name in Settings.model_fields}
    chart = set(SCHEMA["properties"]["config"]["properties"])
    assert settings - chart == set(), "settings the chart cannot set: add them to values.yaml and the schema"
    assert chart - settings == set(), "chart values that are no operator setting"
    assert set(DEFAULTS["config"]) == settings


def test_the_chart_defaults_are_the_operators_defaults():
    for name, field in Settings.model_fields.items():
        code = field.get_default(call_default_factory=True)
        chart = DEFAULTS["config"][camel(name)]
        assert (None if chart == "" else chart) == code, f"{name}: chart {chart!r}, operator {code!r}"


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


def test_the_schema_types_are_the_settings_types():
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        origin = getattr(annotation, "__origin__", None)
        args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
        python = origin or (args[0] if args and origin is None and len(args) == 1 else annotation)
        if python not in _JSON_TYPES and args:
            python = getattr(args[0], "__origin__", None) or args[0]
        expected = _JSON_TYPES[python]
        assert SCHEMA["properties"]["config"]["properties"][camel(name)]["type"] == expected, name


def test_every_value_reaches_the_operator_as_its_setting(monkeypatch):
    """The env the chart renders, read by the operator's own Settings, gives back every value of the file."""
    chosen = values_file(ALL_OPTIONS)["config"]
    rendered = {k: v for k, v in env(render("all-options")).items() if k.startswith("ODM_OPERATOR_")}
    assert set(rendered) == {f"ODM_OPERATOR_{name.upper()}" for name in Settings.model_fields}
    for key in [k for k in os.environ if k.startswith("ODM_OPERATOR_")]:
        monkeypatch.delenv(key)
    for key, value in rendered.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    for name, field in Settings.model_fields.items():
        adapter = TypeAdapter(field.annotation)
        expected = adapter.dump_python(adapter.validate_python(chosen[camel(name)]))
        assert adapter.dump_python(getattr(settings, name)) == expected, name


def test_empty_strings_leave_settings_unset():
    names = set(env(render("defaults")))
    for name in ("task_role_arn", "execution_role_arn", "instance_profile_arn", "capacity_provider"):
        assert f"ODM_OPERATOR_{name.upper()}" not in names


# ----- image, probes, service account ----------------------------------------------------------------------------


def test_the_image_defaults_to_the_app_version_and_a_digest_wins():
    assert container(render("defaults"))["image"] == f"odm-operator:{__version__}"
    digest = values_file(ALL_OPTIONS)["image"]["digest"]
    assert container(render("all-options"))["image"].endswith(f"/odm-operator@{digest}")


@pytest.mark.parametrize("values", ["defaults", "all-options"])
def test_probes_hit_kopfs_health_endpoint_on_the_port_it_listens_on(values):
    c = container(render(values))
    port = next(p["containerPort"] for p in c["ports"] if p["name"] == "health")
    assert f"--liveness=http://0.0.0.0:{port}/healthz" in c["args"]
    for probe in (c["livenessProbe"], c["readinessProbe"]):
        assert probe["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["livenessProbe"].get("successThreshold", 1) == 1


def test_the_service_account_carries_the_irsa_annotation():
    sa = the(render("all-options"), "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/odm-operator")
    assert (
        the(render("all-options"), "Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
        == (sa["metadata"]["name"])
    )


def test_the_operator_never_gets_static_aws_keys():
    for values in VALUES:
        names = set(env(render(values)))
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & names


# ----- metrics ---------------------------------------------------------------------------------------------------


def test_the_metrics_service_targets_the_metrics_port_and_the_service_monitor_selects_it():
    docs = render("all-options")
    c = container(docs)
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in c["ports"]
    service = the(docs, "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9091, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = the(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    monitor = the(docs, "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_by_default_there_is_a_metrics_service_but_no_service_monitor_or_dashboard():
    docs = render("defaults")
    assert the(docs, "Service")["spec"]["ports"][0]["port"] == 8081
    assert of_kind(docs, "ServiceMonitor") == [] and of_kind(docs, "ConfigMap") == []


def test_metrics_listen_on_the_pod_ip_unless_an_address_is_set():
    assert env(render("defaults"))["ODM_OPERATOR_METRICS_BIND_ADDRESS"] == {
        "fieldRef": {"fieldPath": "status.podIP"}
    }, "the Service reaches it; nothing on the node's loopback does"
    assert env(render("all-options"))["ODM_OPERATOR_METRICS_BIND_ADDRESS"] == "0.0.0.0"
    assert "ODM_OPERATOR_METRICS_BIND_ADDRESS" not in env(render("metrics-off"))


def test_metrics_port_zero_turns_off_the_port_and_the_service():
    docs = render("metrics-off")
    assert of_kind(docs, "Service") == []
    assert [p["name"] for p in container(docs)["ports"]] == ["health"]


def test_the_dashboard_is_valid_json_and_plots_only_metrics_the_operator_exports():
    from prometheus_client import REGISTRY

    from odm_operator import metrics  # noqa: F401  (registers the metrics)

    docs = render("all-options")
    dashboard = json.loads(the(docs, "ConfigMap")["data"]["odm-operator.json"])
    assert dashboard == json.loads((CHART / "dashboards" / "odm-operator.json").read_text())
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",)}
    exported = {f.name + suffix for f in REGISTRY.collect() for suffix in suffixes.get(f.type, ("",))}
    used = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used |= set(re.findall(r"\b(odm_operator_[a-z_]+)", target["expr"]))
    assert used and used - exported == set(), f"the dashboard plots metrics nobody exports: {used - exported}"


# ----- install notes ---------------------------------------------------------------------------------------------


def _notes(*args: str) -> str:
    result = helm("install", "odm-operator", str(CHART), "-n", NAMESPACE, "--dry-run=client", *args)
    return result.stdout.split("NOTES:", 1)[1]


@pytest.mark.parametrize("values", ["defaults", "all-options"])
def test_the_notes_show_a_first_odmjob_the_operator_accepts(values):
    notes = _notes(*VALUES[values])
    block = notes.split("cat <<'YAML' | kubectl apply -f -\n", 1)[1].split("\n  YAML\n", 1)[0]
    job = yaml.safe_load("\n".join(line.removeprefix("  ") for line in block.splitlines()))
    assert job["kind"] == "ODMJob"
    assert check_job(job, Settings()) == []
    assert "kubectl get odmj" in notes


def test_the_notes_warn_about_missing_aws_settings_only_when_missing():
    bare = _notes()
    assert "config.subnets is empty" in bare and "No IRSA annotation" in bare
    complete = _notes(*VALUES["all-options"])
    assert "config.subnets is empty" not in complete and "No IRSA annotation" not in complete
