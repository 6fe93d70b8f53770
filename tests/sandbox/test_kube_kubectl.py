"""The real kubectl 1.35 against the emulator: what a user of the sandbox types must work as on a cluster."""

from __future__ import annotations

import json
import queue
import threading

import kube_fixtures
import yaml
from kube_fixtures import GROUP, PLURAL, VERSION, eventually, get_job, odmjob

# The shared pytest fixtures, bound here so that pytest finds them in this module.
emulator, kubectl, api_client, custom = (
    kube_fixtures.emulator,
    kube_fixtures.kubectl,
    kube_fixtures.api_client,
    kube_fixtures.custom,
)

WATCH_TIMEOUT = 10


def manifest(*objs: dict) -> str:
    return yaml.safe_dump_all(objs)


def set_status(custom, name: str, **status) -> dict:
    return custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, name, {"status": status}
    )


def watchers(emulator) -> int:
    return emulator.call(emulator.store.subscription_count)


def test_get_prints_the_crds_printer_columns(kubectl, custom):
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    set_status(
        custom, "farm", phase="Running", reason="ScalingOut", progress={"percent": 42, "stage": "openmvs"}
    )
    lines = kubectl("get", "odmjobs").stdout.splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "PROGRESS", "REASON", "AGE"]
    assert lines[1].split()[:4] == ["farm", "Running", "42", "ScalingOut"]
    wide = kubectl("get", "odmj", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "PHASE", "PROGRESS", "STAGE", "REASON", "CAPACITY", "MESSAGE", "AGE"]
    assert wide[1].split()[:6] == ["farm", "Running", "42", "openmvs", "ScalingOut", "ec2"]


def test_the_short_name_and_the_category_resolve_to_odmjobs(kubectl):
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    assert kubectl("get", "odmj", "-o", "name").stdout.split() == ["odmjob.odm-operator.io/farm"]
    assert kubectl("get", "odm", "-o", "name").stdout.split() == ["odmjob.odm-operator.io/farm"]


def test_applying_the_same_manifest_twice_reports_unchanged(kubectl, custom):
    first = kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    rv = get_job(custom, "farm")["metadata"]["resourceVersion"]
    second = kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    assert first.stdout.strip() == "odmjob.odm-operator.io/farm created"
    assert second.stdout.strip() == "odmjob.odm-operator.io/farm unchanged"
    assert get_job(custom, "farm")["metadata"]["resourceVersion"] == rv


def test_merge_json_and_status_patches_change_what_they_target(kubectl, custom):
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    kubectl("patch", "odmj", "farm", "--type", "merge", "-p", '{"spec":{"suspend":true}}')
    assert get_job(custom, "farm")["spec"]["suspend"] is True
    kubectl(
        "patch",
        "odmj",
        "farm",
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/spec/suspend","value":false}]',
    )
    job = get_job(custom, "farm")
    assert job["spec"]["suspend"] is False
    assert job["metadata"]["generation"] == 3
    kubectl(
        "patch",
        "odmj",
        "farm",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        '{"status":{"phase":"Suspended"}}',
    )
    job = get_job(custom, "farm")
    assert job["status"] == {"phase": "Suspended"}
    assert job["metadata"]["generation"] == 3  # status writes do not bump the generation


def test_a_strategic_merge_patch_of_an_odmjob_is_refused(kubectl):
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    result = kubectl("patch", "odmj", "farm", "-p", '{"spec":{"suspend":true}}', check=False)
    assert result.returncode != 0
    assert "application/strategic-merge-patch+json is not supported" in result.stderr


def test_wait_for_jsonpath_is_satisfied_by_a_status_write_from_elsewhere(kubectl, custom, emulator):
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    waiting = kubectl.start(
        "wait", "--for=jsonpath={.status.phase}=Succeeded", "odmj/farm", f"--timeout={WATCH_TIMEOUT}s"
    )
    eventually(lambda: watchers(emulator) > 0)
    assert waiting.poll() is None
    set_status(custom, "farm", phase="Succeeded")
    out, err = waiting.communicate(timeout=WATCH_TIMEOUT)
    assert waiting.returncode == 0, err
    assert out.strip() == "odmjob.odm-operator.io/farm condition met"


def test_get_watch_prints_an_update(kubectl, custom, emulator):
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    watching = kubectl.start("get", "odmj", "-w")
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watching.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=WATCH_TIMEOUT).split()[:2] == ["NAME", "PHASE"]
        assert lines.get(timeout=WATCH_TIMEOUT).split()[0] == "farm"
        eventually(lambda: watchers(emulator) > 0)
        set_status(custom, "farm", phase="Running", progress={"percent": 77})
        assert lines.get(timeout=WATCH_TIMEOUT).split()[:3] == ["farm", "Running", "77"]
    finally:
        watching.kill()
        watching.communicate()


def test_deleting_an_odmjob_with_a_finalizer_keeps_it_until_the_finalizer_is_removed(kubectl, custom):
    job = odmjob("farm")
    job["metadata"]["finalizers"] = ["odm-operator.io/stop-task"]
    kubectl("apply", "-f", "-", stdin=manifest(job))
    kubectl("delete", "odmj", "farm", "--wait=false")
    kept = get_job(custom, "farm")
    assert kept["metadata"]["deletionTimestamp"]
    assert kept["metadata"]["deletionGracePeriodSeconds"] == 0
    added = kubectl(
        "patch", "odmj", "farm", "--type", "merge", "-p", '{"metadata":{"finalizers":["a","b"]}}', check=False
    )
    assert "no new finalizers can be added if the object is being deleted" in added.stderr
    kubectl(
        "patch", "odmj", "farm", "--type", "json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]'
    )
    assert "NotFound" in kubectl("get", "odmj", "farm", check=False).stderr
    kubectl("wait", "--for=delete", "odmj/farm", "--timeout=5s")


def test_apply_of_a_schema_invalid_odmjob_names_the_field(kubectl):
    result = kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm", backoffLimit=11)), check=False)
    assert result.returncode != 0
    assert (
        'The ODMJob "farm" is invalid: spec.backoffLimit: Invalid value: 11: '
        "spec.backoffLimit in body should be less than or equal to 10"
    ) in result.stderr
    result = kubectl(
        "apply", "-f", "-", stdin=manifest(odmjob("farm", capacity={"type": "lambda"})), check=False
    )
    assert (
        'spec.capacity.type: Unsupported value: "lambda": supported values: "ec2", "fargate"' in result.stderr
    )


def test_spec_is_immutable_except_suspend(kubectl, custom):
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    changed = odmjob("farm", input={"s3Uri": "s3://elsewhere/"})
    result = kubectl("apply", "-f", "-", stdin=manifest(changed), check=False)
    assert result.returncode != 0
    assert 'spec: Invalid value: "object": spec is immutable except spec.suspend' in result.stderr
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm", suspend=True)))
    assert get_job(custom, "farm")["spec"]["suspend"] is True


def test_unknown_fields_are_refused_by_kubectls_strict_field_validation(kubectl):
    result = kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm", colour="blue")), check=False)
    assert result.returncode != 0
    assert 'strict decoding error: unknown field "spec.colour"' in result.stderr
    lenient = kubectl("apply", "--validate=false", "-f", "-", stdin=manifest(odmjob("farm", colour="blue")))
    assert "created" in lenient.stdout
    assert "colour" not in kubectl.json("get", "odmj", "farm")["spec"]  # pruned, as a real server does


def test_explain_teaches_the_fields_from_the_crd_descriptions(kubectl):
    out = kubectl("explain", "odmjob.spec.resources").stdout
    assert "KIND:       ODMJob" in out
    assert "VERSION:    v1alpha1" in out
    assert "FIELD: resources <Object>" in out
    assert "memory" in out and "-required-" in out


def test_server_side_apply_creates_then_updates(kubectl, custom):
    assert (
        "serverside-applied"
        in kubectl("apply", "--server-side", "-f", "-", stdin=manifest(odmjob("farm"))).stdout
    )
    kubectl("apply", "--server-side", "-f", "-", stdin=manifest(odmjob("farm", suspend=True)))
    assert get_job(custom, "farm")["spec"]["suspend"] is True


def test_diff_and_server_dry_run_do_not_persist(kubectl, custom):
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    assert kubectl("diff", "-f", "-", stdin=manifest(odmjob("farm"))).returncode == 0
    diff = kubectl("diff", "-f", "-", stdin=manifest(odmjob("farm", suspend=True)), check=False)
    assert diff.returncode == 1 and "+  suspend: true" in diff.stdout
    assert (
        "(server dry run)"
        in kubectl("apply", "--dry-run=server", "-f", "-", stdin=manifest(odmjob("new"))).stdout
    )
    assert get_job(custom, "farm")["spec"]["suspend"] is False
    assert [j["metadata"]["name"] for j in kubectl.json("get", "odmj")["items"]] == ["farm"]


def test_label_selectors_filter_gets(kubectl):
    jobs = [odmjob(n) for n in ("a", "b", "c")]
    for job, team in zip(jobs, ("red", "blue", None), strict=True):
        if team:
            job["metadata"]["labels"] = {"team": team}
    kubectl("apply", "-f", "-", stdin=manifest(*jobs))

    def names(selector: str) -> list[str]:
        return (
            kubectl("get", "odmj", "-l", selector, "-o", "name")
            .stdout.replace("odmjob.odm-operator.io/", "")
            .split()
        )

    assert names("team=red") == ["a"]
    assert names("team!=red") == ["b", "c"]
    assert names("team in (red,blue)") == ["a", "b"]
    assert names("team notin (red)") == ["b", "c"]
    assert names("team") == ["a", "b"]
    assert names("!team") == ["c"]


def test_namespaces_can_be_created_labelled_and_deleted(kubectl):
    kubectl("create", "namespace", "mapping")  # kubectl sends this one as protobuf
    kubectl("label", "namespace", "mapping", "team=survey")
    ns = kubectl.json("get", "namespace", "mapping")
    assert ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "mapping", "team": "survey"}
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm", namespace="mapping")))
    kubectl("delete", "namespace", "mapping")
    assert "NotFound" in kubectl("get", "namespace", "mapping", check=False).stderr
    assert kubectl("get", "odmj", "-A", "-o", "name").stdout == ""


def test_objects_in_a_missing_namespace_are_refused(kubectl):
    result = kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm", namespace="nowhere")), check=False)
    assert 'namespaces "nowhere" not found' in result.stderr


def test_describe_shows_the_events_of_the_object(kubectl, custom, api_client):
    import kubernetes

    job = kubectl.json("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_event(
        "default",
        {
            "metadata": {"generateName": "farm."},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ODMJob",
                "name": "farm",
                "namespace": "default",
                "uid": job["metadata"]["uid"],
            },
            "reason": "TaskStarted",
            "message": "Started ECS task abc",
            "type": "Normal",
            "source": {"component": "odm-operator"},
            "firstTimestamp": job["metadata"]["creationTimestamp"],
            "lastTimestamp": job["metadata"]["creationTimestamp"],
            "count": 1,
        },
    )
    described = kubectl("describe", "odmj", "farm").stdout
    assert "TaskStarted" in described and "Started ECS task abc" in described
    events = kubectl("get", "events").stdout.splitlines()
    assert events[0].split()[:4] == ["LAST", "SEEN", "TYPE", "REASON"]
    assert "odmjob/farm" in events[1]
    notes = kubectl.json("get", "events.v1.events.k8s.io")["items"]
    assert [(e["note"], e["regarding"]["name"]) for e in notes] == [("Started ECS task abc", "farm")]


def test_json_output_is_the_stored_object_with_defaults(kubectl):
    kubectl("apply", "-f", "-", stdin=manifest(odmjob("farm")))
    job = json.loads(kubectl("get", "odmj", "farm", "-o", "json").stdout)
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["capacity"]["type"] == "ec2"
    assert job["metadata"]["generation"] == 1
