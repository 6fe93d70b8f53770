"""Watch streams: resuming, initial events, selectors, timeouts, and what kopf's and the client's watches see."""

from __future__ import annotations

import itertools
import threading
import time

import kube_fixtures
import kubernetes
from kube_fixtures import GROUP, PLURAL, VERSION, Raw, create_job, eventually, odmjob

from odm_sandbox.kube import DEFAULT_CRD, KubeEmulator

emulator, api_client, custom, raw = (
    kube_fixtures.emulator,
    kube_fixtures.api_client,
    kube_fixtures.custom,
    kube_fixtures.raw,
)

JOBS = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"


def take(stream, count: int) -> list[dict]:
    """The next `count` events of a stream (then the stream is closed by the caller leaving it)."""
    return list(itertools.islice(stream, count))


def summary(events: list[dict]) -> list[tuple[str, str | None]]:
    return [(e["type"], e["object"]["metadata"].get("name")) for e in events]


def label(custom, name: str, labels: dict | None) -> dict:
    return custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, name, {"metadata": {"labels": labels}}
    )


def test_a_watch_resumes_after_the_given_resource_version(custom, raw):
    rv = create_job(custom, "a")["metadata"]["resourceVersion"]
    create_job(custom, "b")
    label(custom, "a", {"x": "y"})
    events = take(raw.stream(f"{JOBS}?watch=true&resourceVersion={rv}"), 2)
    assert summary(events) == [("ADDED", "b"), ("MODIFIED", "a")]
    assert events[1]["object"]["metadata"]["labels"] == {"x": "y"}


def test_a_watch_without_a_resource_version_starts_with_the_current_objects(custom, raw):
    create_job(custom, "a")
    stream = raw.stream(f"{JOBS}?watch=true")
    assert summary(take(stream, 1)) == [("ADDED", "a")]
    create_job(custom, "b")
    assert summary(take(stream, 1)) == [("ADDED", "b")]


def test_a_no_op_write_emits_no_event(custom, raw):
    rv = create_job(custom, "a")["metadata"]["resourceVersion"]
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "a", {"spec": {"suspend": False}}
    )
    changed = label(custom, "a", {"x": "y"})
    (event,) = take(raw.stream(f"{JOBS}?watch=true&resourceVersion={rv}"), 1)
    assert event["type"] == "MODIFIED"
    assert event["object"]["metadata"]["resourceVersion"] == changed["metadata"]["resourceVersion"]


def test_initial_events_end_with_an_annotated_bookmark(custom, raw):
    create_job(custom, "a")
    create_job(custom, "b")
    stream = raw.stream(
        f"{JOBS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    )
    events = take(stream, 3)
    assert summary(events[:2]) == [("ADDED", "a"), ("ADDED", "b")]
    assert events[2]["type"] == "BOOKMARK"
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert events[2]["object"]["kind"] == "ODMJob"
    create_job(custom, "c")
    assert summary(take(stream, 1)) == [("ADDED", "c")]


def test_initial_events_need_resource_version_match_not_older_than(raw):
    code, _, status = raw("GET", f"{JOBS}?watch=true&sendInitialEvents=true")
    assert code == 422 and "NotOlderThan" in status["message"]


def test_a_compacted_resource_version_is_answered_with_410_gone(tmp_path):
    with KubeEmulator(crd_paths=[DEFAULT_CRD], history=5) as k8s:
        raw = Raw(k8s.url)
        for name in "abcdefgh":
            raw("POST", JOBS, odmjob(name))
        (event,) = take(raw.stream(f"{JOBS}?watch=true&resourceVersion=2"), 1)
        assert event["type"] == "ERROR"
        assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
        assert event["object"]["message"].startswith("too old resource version: 2")


def test_objects_leaving_or_entering_a_label_selector_are_deleted_or_added(custom, raw):
    body = odmjob("a")
    body["metadata"]["labels"] = {"team": "red"}
    custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)
    create_job(custom, "b")
    stream = raw.stream(f"{JOBS}?watch=true&labelSelector=team%3Dred")
    assert summary(take(stream, 1)) == [("ADDED", "a")]
    label(custom, "a", {"team": "blue"})
    label(custom, "b", {"team": "red"})
    label(custom, "a", {"team": "red"})
    assert summary(take(stream, 3)) == [("DELETED", "a"), ("ADDED", "b"), ("ADDED", "a")]


def test_a_namespaced_watch_sees_only_its_namespace(custom, api_client, raw):
    kubernetes.client.CoreV1Api(api_client).create_namespace({"metadata": {"name": "other"}})
    stream = raw.stream(f"{JOBS}?watch=true&resourceVersion=0")
    custom.create_namespaced_custom_object(GROUP, VERSION, "other", PLURAL, odmjob("x", namespace="other"))
    create_job(custom, "a")
    assert summary(take(stream, 1)) == [("ADDED", "a")]


def test_a_single_object_watch_by_field_selector_ignores_others(custom, raw):
    create_job(custom, "a")
    create_job(custom, "b")
    stream = raw.stream(f"{JOBS}?watch=true&fieldSelector=metadata.name%3Db")
    assert summary(take(stream, 1)) == [("ADDED", "b")]
    label(custom, "a", {"x": "1"})
    label(custom, "b", {"x": "1"})
    assert summary(take(stream, 1)) == [("MODIFIED", "b")]


def test_the_server_ends_a_watch_after_timeout_seconds(raw):
    started = time.monotonic()
    assert list(raw.stream(f"{JOBS}?watch=true&timeoutSeconds=1")) == []
    assert 0.9 < time.monotonic() - started < 5


def test_removing_the_last_finalizer_of_a_deleted_object_emits_deleted(custom, api_client, emulator):
    body = odmjob("a")
    body["metadata"]["finalizers"] = ["x/y"]
    rv = custom.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)["metadata"][
        "resourceVersion"
    ]
    custom.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "a", {"metadata": {"finalizers": None}}
    )
    watch = kubernetes.watch.Watch()
    events = []
    for event in watch.stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        "default",
        PLURAL,
        resource_version=rv,
        timeout_seconds=5,
    ):
        events.append((event["type"], event["object"]["metadata"].get("deletionTimestamp") is not None))
        if event["type"] == "DELETED":
            watch.stop()
    assert events == [("MODIFIED", True), ("DELETED", True)]


def test_dropping_watches_ends_the_open_streams(custom, raw, emulator):
    create_job(custom, "a")
    received: list[dict] = []
    done = threading.Event()

    def consume() -> None:
        received.extend(raw.stream(f"{JOBS}?watch=true"))
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    eventually(lambda: emulator.call(emulator.store.subscription_count) == 1)
    assert emulator.drop_watches(PLURAL) == 1
    assert done.wait(5)
    assert summary(received) == [("ADDED", "a")]


def test_events_written_through_the_core_api_are_watched_through_events_k8s_io(api_client, raw):
    stream = raw.stream("/apis/events.k8s.io/v1/namespaces/default/events?watch=true")
    kubernetes.client.CoreV1Api(api_client).create_namespaced_event(
        "default", {"metadata": {"name": "e1"}, "involvedObject": {"name": "farm"}, "message": "hello"}
    )
    (event,) = take(stream, 1)
    assert event["object"]["apiVersion"] == "events.k8s.io/v1"
    assert (event["object"]["note"], event["object"]["regarding"]["name"]) == ("hello", "farm")
