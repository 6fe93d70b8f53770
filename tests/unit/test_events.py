"""The event poster: passes enqueue, one thread posts in order; a full queue drops events, never blocks a pass."""

import threading

from odm_operator.runtime.kube_events import EventPoster

JOB = {"metadata": {"name": "job", "namespace": "ns", "uid": "u1", "resourceVersion": "7"}}


def test_events_are_posted_in_order_with_the_time_they_happened_and_stop_flushes_the_queue():
    posted: list[tuple] = []
    poster = EventPoster(lambda body, kind, reason, message, at: posted.append((body, kind, reason, at)))
    poster.start()
    for reason in ("Starting", "Running", "Succeeded"):
        poster(JOB, "Normal", reason, "message")
    poster.stop()
    assert [p[2] for p in posted] == ["Starting", "Running", "Succeeded"]
    assert posted[0][0] == {"metadata": {"name": "job", "namespace": "ns", "uid": "u1"}}
    assert all(p[3].endswith("Z") for p in posted)


def test_a_full_queue_drops_new_events_instead_of_blocking_and_a_failed_post_does_not_end_the_thread():
    release = threading.Event()
    posted: list[str] = []

    def post(body, kind, reason, message, at):
        release.wait(timeout=10)
        if reason == "boom":
            raise RuntimeError("API server down")
        posted.append(reason)

    poster = EventPoster(post, max_pending=2)
    for reason in ("boom", "a", "b"):  # not started yet: the queue holds two
        poster(JOB, "Normal", reason, "")
    assert poster.dropped == 1
    poster.start()
    release.set()
    poster.stop()
    assert posted == ["a"]
