"""API semantics through the kubernetes client and plain HTTP: what kopf and the operator rely on."""

from __future__ import annotations

import kube_fixtures
import kubernetes
import pytest
from kube_fixtures import GROUP, PLURAL, VERSION, api_error, create_job, get_job, odmjob

from odm_sandbox.kube import KubeEmulator

emulator, api_client, custom, raw = (
    kube_fixtures.emulator,
    kube_fixtures.api_client,
    kube_fixtures.custom,
    kube_fixtures.raw,
)

JOBS = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def patch_job(custom, name: str, body: dict) -> dict:
    return custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name, body)


def patch_status(custom, name: str, status: dict) -> dict:
    return custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, name, {"status": status}
    )


class TestCreate:
    def test_a_create_answers_201_with_the_server_owned_fields_and_defaults(self, raw):
        code, _, job = raw("POST", JOBS, odmjob("farm"))
        assert code == 201
        meta = job["metadata"]
        assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
        assert meta["generation"] == 1 and int(meta["resourceVersion"]) > 0
        assert job["spec"]["backoffLimit"] == 2 and job["spec"]["suspend"] is False

    def test_the_kubernetes_client_gets_the_created_object_back(self, custom):
        assert create_job(custom, "farm")["metadata"]["name"] == "farm"

    def test_status_in_a_create_is_dropped_because_of_the_status_subresource(self, custom):
        body = odmjob("farm")
        body["status"] = {"phase": "Succeeded"}
        assert "status" not in custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)

    def test_an_existing_name_is_a_409_already_exists(self, custom):
        create_job(custom, "farm")
        exc = api_error(lambda: create_job(custom, "farm"))
        assert exc.status == 409
        assert exc.status_body["reason"] == "AlreadyExists"
        assert exc.status_body["message"] == 'odmjobs.odm-operator.io "farm" already exists'
        assert exc.status_body["details"] == {"name": "farm", "group": GROUP, "kind": PLURAL}

    def test_generate_name_gets_five_random_characters(self, custom):
        body = odmjob("")
        body["metadata"] = {"generateName": "farm-"}
        names = {
            custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)["metadata"][
                "name"
            ]
            for _ in range(3)
        }
        assert len(names) == 3
        assert all(n.startswith("farm-") and len(n) == len("farm-") + 5 for n in names)

    def test_a_missing_name_is_invalid(self, raw):
        body = odmjob("x")
        del body["metadata"]["name"]
        code, _, status = raw("POST", JOBS, body)
        assert code == 422
        assert "metadata.name: Required value: name or generateName is required" in status["message"]

    def test_an_invalid_name_is_refused_with_the_dns_subdomain_rule(self, raw):
        code, _, status = raw("POST", JOBS, odmjob("Farm_1"))
        assert code == 422
        assert 'metadata.name: Invalid value: "Farm_1": a lowercase RFC 1123 subdomain' in status["message"]

    def test_a_schema_violation_is_a_422_with_causes_per_field(self, raw):
        code, _, status = raw("POST", JOBS, odmjob("farm", backoffLimit=11, capacity={"type": "x"}))
        assert code == 422 and status["reason"] == "Invalid"
        assert [c["field"] for c in status["details"]["causes"]] == [
            "spec.backoffLimit",
            "spec.capacity.type",
        ]
        assert status["details"]["causes"][0] == {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 11: spec.backoffLimit in body should be less than or equal to 10",
            "field": "spec.backoffLimit",
        }

    def test_strict_field_validation_refuses_unknown_fields(self, raw):
        code, _, status = raw("POST", JOBS + "?fieldValidation=Strict", odmjob("farm", colour="blue"))
        assert code == 400 and status["reason"] == "BadRequest"
        assert status["message"] == (
            'ODMJob in version "v1alpha1" cannot be handled as a ODMJob: strict decoding error: unknown field "spec.colour"'
        )

    def test_warn_field_validation_prunes_unknown_fields_with_a_warning(self, raw):
        code, headers, job = raw("POST", JOBS + "?fieldValidation=Warn", odmjob("farm", colour="blue"))
        assert code == 201 and "colour" not in job["spec"]
        assert headers["Warning"] == '299 - "unknown field \\"spec.colour\\""'

    def test_dry_run_create_does_not_persist(self, raw, custom):
        code, _, _ = raw("POST", JOBS + "?dryRun=All", odmjob("farm"))
        assert code == 201
        assert api_error(lambda: get_job(custom, "farm")).status == 404


class TestReadAndList:
    def test_a_missing_object_is_a_404_with_a_status_body(self, custom):
        exc = api_error(lambda: get_job(custom, "nope"))
        assert exc.status == 404
        assert exc.status_body == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": 'odmjobs.odm-operator.io "nope" not found',
            "reason": "NotFound",
            "details": {"name": "nope", "group": GROUP, "kind": PLURAL},
            "code": 404,
        }

    def test_lists_carry_kind_api_version_and_the_resource_version(self, custom, raw):
        create_job(custom, "b")
        create_job(custom, "a")
        code, _, listing = raw("GET", JOBS)
        assert (listing["kind"], listing["apiVersion"]) == ("ODMJobList", f"{GROUP}/{VERSION}")
        assert int(listing["metadata"]["resourceVersion"]) >= 2
        assert [j["metadata"]["name"] for j in listing["items"]] == ["a", "b"]

    def test_a_cluster_wide_list_returns_every_namespace(self, custom, api_client, raw):
        kubernetes.client.CoreV1Api(api_client).create_namespace({"metadata": {"name": "mapping"}})
        create_job(custom, "a")
        custom.create_namespaced_custom_object(
            GROUP, VERSION, "mapping", PLURAL, odmjob("b", namespace="mapping")
        )
        _, _, listing = raw("GET", f"/apis/{GROUP}/{VERSION}/{PLURAL}")
        assert [(j["metadata"]["namespace"], j["metadata"]["name"]) for j in listing["items"]] == [
            ("default", "a"),
            ("mapping", "b"),
        ]

    @pytest.mark.parametrize(
        ("selector", "expected"),
        [
            ("team=red", ["a"]),
            ("team==red", ["a"]),
            ("team!=red", ["b", "c"]),
            ("team in (red, blue)", ["a", "b"]),
            ("team notin (red)", ["b", "c"]),
            ("team", ["a", "b"]),
            ("!team", ["c"]),
            ("team,tier=gold", ["b"]),
        ],
    )
    def test_label_selectors_select(self, custom, selector, expected):
        for name, labels in (("a", {"team": "red"}), ("b", {"team": "blue", "tier": "gold"}), ("c", {})):
            body = odmjob(name)
            body["metadata"]["labels"] = labels
            custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
        items = custom.list_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, label_selector=selector
        )["items"]
        assert [j["metadata"]["name"] for j in items] == expected

    def test_field_selectors_select_by_name_and_refuse_unknown_fields(self, custom):
        create_job(custom, "a")
        create_job(custom, "b")
        items = custom.list_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, field_selector="metadata.name=b"
        )
        assert [j["metadata"]["name"] for j in items["items"]] == ["b"]
        exc = api_error(
            lambda: custom.list_namespaced_custom_object(
                GROUP, VERSION, "default", PLURAL, field_selector="spec.x=1"
            )
        )
        assert exc.status == 400 and "field label not supported: spec.x" in exc.status_body["message"]

    def test_events_are_selected_by_involved_object(self, api_client):
        core = kubernetes.client.CoreV1Api(api_client)
        for target in ("a", "b"):
            core.create_namespaced_event(
                "default",
                {
                    "metadata": {"generateName": f"{target}."},
                    "involvedObject": {"kind": "ODMJob", "name": target},
                },
            )
        events = core.list_namespaced_event(
            "default", field_selector="involvedObject.kind=ODMJob,involvedObject.name=b"
        )
        assert [e.involved_object.name for e in events.items] == ["b"]

    def test_limit_and_continue_page_through_a_list(self, custom):
        for name in "abcde":
            create_job(custom, name)
        first = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, limit=2)
        second = custom.list_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, limit=2, _continue=first["metadata"]["continue"]
        )
        assert [j["metadata"]["name"] for j in first["items"] + second["items"]] == ["a", "b", "c", "d"]
        assert second["metadata"]["remainingItemCount"] == 1

    def test_tables_carry_the_printer_columns(self, custom, raw):
        create_job(custom, "farm")
        patch_status(custom, "farm", {"phase": "Running", "progress": {"percent": 5}})
        code, headers, table = raw("GET", JOBS, accept="application/json;as=Table;v=v1;g=meta.k8s.io")
        assert headers["Content-Type"] == "application/json;as=Table;v=v1;g=meta.k8s.io"
        assert [c["name"] for c in table["columnDefinitions"]] == [
            "Name",
            "Phase",
            "Progress",
            "Stage",
            "Reason",
            "Capacity",
            "Message",
            "Age",
        ]
        cells = table["rows"][0]["cells"]
        assert cells[:6] == ["farm", "Running", 5, None, None, "ec2"]
        assert cells[6] is None  # no message written in this test
        assert cells[7].endswith("s")
        assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"

    def test_namespaces_have_a_name_status_age_table(self, raw):
        _, _, table = raw("GET", "/api/v1/namespaces", accept="application/json;as=Table;v=v1;g=meta.k8s.io")
        assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Age"]
        assert table["rows"][0]["cells"][:2] == ["default", "Active"]


class TestUpdateAndPatch:
    def test_a_stale_put_is_a_409_conflict(self, custom):
        job = create_job(custom, "farm")
        patch_job(custom, "farm", {"metadata": {"labels": {"a": "b"}}})
        job["spec"]["suspend"] = True
        exc = api_error(
            lambda: custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "farm", job)
        )
        assert exc.status == 409 and exc.status_body["reason"] == "Conflict"
        assert exc.status_body["message"] == (
            'Operation cannot be fulfilled on odmjobs.odm-operator.io "farm": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )

    def test_a_put_with_the_current_resource_version_succeeds(self, custom):
        job = create_job(custom, "farm")
        job["spec"]["suspend"] = True
        replaced = custom.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "farm", job)
        assert replaced["spec"]["suspend"] is True
        assert int(replaced["metadata"]["resourceVersion"]) > int(job["metadata"]["resourceVersion"])

    def test_a_no_op_patch_keeps_the_resource_version(self, custom):
        rv = create_job(custom, "farm")["metadata"]["resourceVersion"]
        assert patch_job(custom, "farm", {"spec": {"suspend": False}})["metadata"]["resourceVersion"] == rv
        rv = patch_status(custom, "farm", {"phase": "Running"})["metadata"]["resourceVersion"]
        assert patch_status(custom, "farm", {"phase": "Running"})["metadata"]["resourceVersion"] == rv

    def test_the_generation_changes_with_the_spec_only(self, custom):
        create_job(custom, "farm")
        assert patch_job(custom, "farm", {"metadata": {"labels": {"a": "b"}}})["metadata"]["generation"] == 1
        assert patch_status(custom, "farm", {"phase": "Running"})["metadata"]["generation"] == 1
        assert patch_job(custom, "farm", {"spec": {"suspend": True}})["metadata"]["generation"] == 2

    def test_main_resource_writes_ignore_status_and_status_writes_ignore_the_rest(self, custom):
        create_job(custom, "farm")
        patch_status(custom, "farm", {"phase": "Running"})
        job = patch_job(custom, "farm", {"status": {"phase": "Failed"}, "metadata": {"labels": {"x": "y"}}})
        assert job["status"] == {"phase": "Running"} and job["metadata"]["labels"] == {"x": "y"}
        job = custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            "default",
            PLURAL,
            "farm",
            {"spec": {"suspend": True}, "metadata": {"labels": {"x": "z"}}},
        )
        assert job["spec"]["suspend"] is False and job["metadata"]["labels"] == {"x": "y"}

    def test_status_fields_missing_from_the_schema_are_pruned(self, custom):
        create_job(custom, "farm")
        assert patch_status(custom, "farm", {"phase": "Running", "mood": "great"})["status"] == {
            "phase": "Running"
        }

    def test_status_writes_are_validated_against_the_status_schema(self, custom):
        create_job(custom, "farm")
        exc = api_error(lambda: patch_status(custom, "farm", {"phase": "Dancing"}))
        assert exc.status == 422
        assert 'status.phase: Unsupported value: "Dancing"' in exc.status_body["message"]

    def test_changing_an_immutable_spec_field_is_refused_by_the_cel_rule(self, custom):
        create_job(custom, "farm")
        exc = api_error(lambda: patch_job(custom, "farm", {"spec": {"input": {"s3Uri": "s3://other/"}}}))
        assert exc.status == 422
        assert exc.status_body["details"]["causes"] == [
            {
                "reason": "FieldValueInvalid",
                "message": 'Invalid value: "object": spec is immutable except spec.suspend; '
                "delete and re-create the ODMJob to change it",
                "field": "spec",
            }
        ]
        assert patch_job(custom, "farm", {"spec": {"suspend": True}})["spec"]["suspend"] is True

    def test_a_failed_json_patch_test_is_a_422(self, raw, custom):
        create_job(custom, "farm")
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
            {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}},
        ]
        code, _, status = raw("PATCH", f"{JOBS}/farm", ops, content_type=JSON_PATCH)
        assert code == 422 and status["reason"] == "Invalid"
        assert "labels" not in get_job(custom, "farm")["metadata"]

    def test_a_json_patch_guarded_by_the_current_resource_version_applies(self, raw, custom):
        rv = create_job(custom, "farm")["metadata"]["resourceVersion"]
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "add", "path": "/metadata/finalizers", "value": ["kopf.zalando.org/KopfFinalizerMarker"]},
        ]
        code, _, job = raw("PATCH", f"{JOBS}/farm", ops, content_type=JSON_PATCH)
        assert code == 200 and job["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]

    def test_a_merge_patch_with_a_stale_resource_version_is_a_conflict(self, raw, custom):
        create_job(custom, "farm")
        code, _, status = raw(
            "PATCH", f"{JOBS}/farm", {"metadata": {"resourceVersion": "1"}}, content_type=MERGE
        )
        assert code == 409 and status["reason"] == "Conflict"

    def test_a_strategic_merge_patch_of_a_custom_resource_is_415(self, raw, custom):
        create_job(custom, "farm")
        code, _, status = raw(
            "PATCH",
            f"{JOBS}/farm",
            {"spec": {"suspend": True}},
            content_type="application/strategic-merge-patch+json",
        )
        assert code == 415 and status["reason"] == "UnsupportedMediaType"

    def test_a_strategic_merge_patch_of_a_namespace_is_a_merge(self, raw):
        code, _, ns = raw(
            "PATCH",
            "/api/v1/namespaces/default",
            {"metadata": {"labels": {"a": "b"}, "$setElementOrder/finalizers": []}},
            content_type="application/strategic-merge-patch+json",
        )
        assert code == 200 and ns["metadata"]["labels"]["a"] == "b"

    def test_server_side_apply_creates_then_merges(self, raw, custom):
        applied = "apiVersion: odm-operator.io/v1alpha1\nkind: ODMJob\nmetadata: {name: farm}\nspec:\n  input: {s3Uri: 's3://a/'}\n  output: {s3Uri: 's3://b/'}\n"
        path = f"{JOBS}/farm?fieldManager=me"
        code, _, _ = raw("PATCH", path, applied.encode(), content_type="application/apply-patch+yaml")
        assert code == 201
        code, _, job = raw(
            "PATCH",
            path,
            (applied + "  suspend: true\n").encode(),
            content_type="application/apply-patch+yaml",
        )
        assert code == 200 and job["spec"]["suspend"] is True

    def test_dry_run_patch_does_not_persist(self, raw, custom):
        create_job(custom, "farm")
        code, _, job = raw(
            "PATCH", f"{JOBS}/farm?dryRun=All", {"spec": {"suspend": True}}, content_type=MERGE
        )
        assert code == 200 and job["spec"]["suspend"] is True
        assert get_job(custom, "farm")["spec"]["suspend"] is False


class TestDelete:
    def test_a_delete_without_finalizers_removes_the_object(self, custom):
        create_job(custom, "farm")
        custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "farm")
        assert api_error(lambda: get_job(custom, "farm")).status == 404

    def test_finalizers_hold_the_object_with_a_deletion_timestamp_until_removed(self, custom):
        body = odmjob("farm")
        body["metadata"]["finalizers"] = ["a/x", "b/y"]
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
        deleted = custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "farm")
        assert (
            deleted["metadata"]["deletionTimestamp"]
            and deleted["metadata"]["deletionGracePeriodSeconds"] == 0
        )
        assert deleted["metadata"]["generation"] == 2
        exc = api_error(
            lambda: patch_job(custom, "farm", {"metadata": {"finalizers": ["a/x", "b/y", "c/z"]}})
        )
        assert exc.status == 422
        assert exc.status_body["message"].endswith(
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, "
            'found new finalizers []string{"c/z"}'
        )
        assert patch_job(custom, "farm", {"metadata": {"finalizers": ["b/y"]}})["metadata"]["finalizers"] == [
            "b/y"
        ]
        patch_job(custom, "farm", {"metadata": {"finalizers": None}})
        assert api_error(lambda: get_job(custom, "farm")).status == 404

    def test_a_delete_precondition_on_a_stale_uid_is_a_conflict(self, custom):
        create_job(custom, "farm")
        exc = api_error(
            lambda: custom.delete_namespaced_custom_object(
                GROUP, VERSION, "default", PLURAL, "farm", body={"preconditions": {"uid": "other"}}
            )
        )
        assert (
            exc.status == 409
            and "Precondition failed: UID in precondition: other" in exc.status_body["message"]
        )

    def test_delete_collection_deletes_the_selected_objects(self, custom, raw):
        for name in ("a", "b"):
            body = odmjob(name)
            body["metadata"]["labels"] = {"batch": name}
            custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
        code, _, _ = raw("DELETE", JOBS + "?labelSelector=batch%3Da")
        assert code == 200
        assert [
            j["metadata"]["name"]
            for j in custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"]
        ] == ["b"]

    def test_deleting_a_namespace_deletes_what_is_in_it(self, api_client, custom):
        core = kubernetes.client.CoreV1Api(api_client)
        core.create_namespace({"metadata": {"name": "mapping"}})
        custom.create_namespaced_custom_object(
            GROUP, VERSION, "mapping", PLURAL, odmjob("farm", namespace="mapping")
        )
        core.delete_namespace("mapping")
        assert custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)["items"] == []


class TestDiscoveryAndEndpoints:
    @pytest.mark.parametrize("path", ["/healthz", "/readyz", "/livez"])
    def test_health_endpoints_say_ok(self, raw, path):
        assert raw("GET", path)[::2] == (200, "ok")

    def test_the_version_is_1_35(self, api_client):
        info = kubernetes.client.VersionApi(api_client).get_code()
        assert (info.major, info.minor, info.git_version) == ("1", "35", "v1.35.2")

    def test_discovery_lists_the_odmjob_resource_with_its_names(self, raw):
        _, _, doc = raw("GET", f"/apis/{GROUP}/{VERSION}")
        (odmjobs,) = [r for r in doc["resources"] if r["name"] == PLURAL]
        assert (
            odmjobs["kind"] == "ODMJob"
            and odmjobs["shortNames"] == ["odmj"]
            and odmjobs["categories"] == ["odm"]
        )
        assert any(r["name"] == f"{PLURAL}/status" for r in doc["resources"])
        _, _, core = raw("GET", "/api/v1")
        assert core["groupVersion"] == "v1"

    def test_aggregated_discovery_is_served_when_asked_for(self, raw):
        media = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        _, headers, doc = raw("GET", "/apis", accept=media + ",application/json")
        assert headers["Content-Type"] == media
        groups = {item["metadata"]["name"]: item for item in doc["items"]}
        resource = groups[GROUP]["versions"][0]["resources"][0]
        assert resource["resource"] == PLURAL and resource["scope"] == "Namespaced"

    def test_openapi_v3_publishes_the_schema_and_the_field_validation_parameter(self, raw):
        _, _, root = raw("GET", "/openapi/v3")
        url = root["paths"][f"apis/{GROUP}/{VERSION}"]["serverRelativeURL"]
        _, _, doc = raw("GET", url)
        schema = doc["components"]["schemas"]["io.odm-operator.v1alpha1.ODMJob"]
        assert schema["x-kubernetes-group-version-kind"] == [
            {"group": GROUP, "version": VERSION, "kind": "ODMJob"}
        ]
        patch = doc["paths"][f"{JOBS.replace('/default/', '/{namespace}/')}/{{name}}"]["patch"]
        assert "fieldValidation" in [p["name"] for p in patch["parameters"]]

    def test_a_crd_created_through_the_api_is_served(self, api_client, raw):
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Cluster",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        }
        kubernetes.client.ApiextensionsV1Api(api_client).create_custom_resource_definition(crd)
        code, _, widget = raw("POST", "/apis/example.com/v1/widgets", {"metadata": {"name": "w"}, "x": 1})
        assert code == 201 and widget["x"] == 1 and widget["kind"] == "Widget"

    def test_core_and_events_api_events_are_the_same_objects(self, api_client, raw):
        core = kubernetes.client.CoreV1Api(api_client)
        body = {"metadata": {"name": "e1"}, "involvedObject": {"name": "farm"}, "message": "hi"}
        created = core.create_namespaced_event("default", body)
        _, _, events = raw("GET", "/apis/events.k8s.io/v1/namespaces/default/events")
        (event,) = events["items"]
        assert (event["metadata"]["uid"], event["regarding"]["name"], event["note"]) == (
            created.metadata.uid,
            "farm",
            "hi",
        )
        assert event["apiVersion"] == "events.k8s.io/v1"

    def test_the_emulator_keeps_the_last_requests_it_answered(self, emulator, raw):
        raw("GET", "/version")
        last = emulator.requests[-1].raw_request
        assert (last.method, last.path) == ("GET", "/version")


class TestScale:
    def test_a_thousand_odmjobs_are_created_patched_and_listed_quickly(self, custom):
        import time

        started = time.perf_counter()
        for i in range(1000):
            create_job(custom, f"job-{i:04d}")
        created = time.perf_counter()
        for i in range(0, 1000, 2):
            patch_status(custom, f"job-{i:04d}", {"phase": "Running", "progress": {"percent": i % 100}})
        items = custom.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)["items"]
        assert len(items) == 1000
        assert created - started < 15, f"1000 creates took {created - started:.1f}s"


def test_objects_can_be_created_anywhere_when_namespaces_are_not_enforced(tmp_path):
    with KubeEmulator(enforce_namespaces=False) as k8s:
        path = k8s.write_kubeconfig(tmp_path / "kubeconfig")
        client = kubernetes.config.new_client_from_config(config_file=str(path))
        api = kubernetes.client.CustomObjectsApi(client)
        api.create_namespaced_custom_object(
            GROUP, VERSION, "anywhere", PLURAL, odmjob("farm", namespace="anywhere")
        )
        assert [o["metadata"]["name"] for o in k8s.objects(PLURAL, "anywhere")] == ["farm"]
        client.close()


def test_the_emulator_also_runs_inside_an_existing_event_loop():
    import asyncio

    import aiohttp

    async def scenario() -> None:
        async with KubeEmulator() as k8s, aiohttp.ClientSession() as session:
            async with session.post(k8s.url + JOBS, json=odmjob("farm")) as response:
                assert response.status == 201
            async with session.get(k8s.url + JOBS + "/farm") as response:
                assert (await response.json())["metadata"]["name"] == "farm"

    asyncio.run(scenario())
