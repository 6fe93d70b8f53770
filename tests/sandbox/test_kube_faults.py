"""Fault injection: rejected requests change nothing, match what they should, and replay with a seed."""

from __future__ import annotations

import kube_fixtures
from kube_fixtures import GROUP, PLURAL, VERSION, api_error, create_job, get_job, job_exists, odmjob

from odm_sandbox.kube import Faults

emulator, api_client, custom, raw = (
    kube_fixtures.emulator,
    kube_fixtures.api_client,
    kube_fixtures.custom,
    kube_fixtures.raw,
)

JOBS = f"/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}"


def test_a_rejected_create_stores_nothing_and_the_next_one_succeeds(emulator, custom):
    emulator.faults.reject(verb="create", resource=PLURAL, status=500, times=1)
    exc = api_error(lambda: create_job(custom, "farm"))
    assert exc.status == 500 and exc.status_body["reason"] == "InternalError"
    assert not job_exists(custom, "farm")
    create_job(custom, "farm")
    assert job_exists(custom, "farm")


def test_a_rejected_status_patch_leaves_the_object_unchanged(emulator, custom):
    rv = create_job(custom, "farm")["metadata"]["resourceVersion"]
    emulator.faults.reject(verb="patch", resource=PLURAL, subresource="status", status=409)
    exc = api_error(
        lambda: custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, "default", PLURAL, "farm", {"status": {"phase": "Running"}}
        )
    )
    assert exc.status == 409 and exc.status_body["reason"] == "Conflict"
    job = get_job(custom, "farm")
    assert "status" not in job and job["metadata"]["resourceVersion"] == rv


def test_rules_match_only_their_verb_resource_and_name(emulator, custom):
    emulator.faults.reject(verb="patch", resource=PLURAL, name="b", status=500, times=None)
    create_job(custom, "a")
    create_job(custom, "b")
    custom.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a", {"spec": {"suspend": True}})
    assert get_job(custom, "b")["spec"]["suspend"] is False  # reads are not patches
    for _ in range(3):
        assert (
            api_error(
                lambda: custom.patch_namespaced_custom_object(
                    GROUP, VERSION, "default", PLURAL, "b", {"spec": {"suspend": True}}
                )
            ).status
            == 500
        )
    assert emulator.faults.injected == 3


def test_throttling_faults_carry_retry_after(emulator, raw):
    emulator.faults.reject(verb="list", status=429, retry_after=3)
    code, headers, status = raw("GET", JOBS)
    assert code == 429 and headers["Retry-After"] == "3"
    assert status["reason"] == "TooManyRequests" and status["details"]["retryAfterSeconds"] == 3


def test_a_removed_rule_stops_firing(emulator, raw):
    fault = emulator.faults.reject(verb="create", status=500, times=None)
    assert raw("POST", JOBS, odmjob("a"))[0] == 500
    emulator.faults.remove(fault)
    assert raw("POST", JOBS, odmjob("a"))[0] == 201


def test_probabilistic_faults_replay_with_the_same_seed():
    def outcomes(seed: int) -> list[bool]:
        faults = Faults(seed)
        faults.reject(verb="patch", probability=0.5, times=None)
        return [faults.check("patch", PLURAL, "", "default", "x") is not None for _ in range(40)]

    assert outcomes(7) == outcomes(7)
    assert outcomes(7) != outcomes(8)
    assert 5 < sum(outcomes(7)) < 35
