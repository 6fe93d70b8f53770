"""The dispatcher's scheduled passes: a far-off requeue (a TTL of centuries) must not stop the others."""

import threading

from odm_operator.dispatch import Dispatcher


def test_a_requeue_centuries_away_does_not_stop_the_scheduler():
    ran = threading.Event()
    dispatcher = Dispatcher(lambda key: ran.set() if key == "soon" else None)
    dispatcher.start()
    try:
        dispatcher.later("far", 1e12)  # ttlSecondsAfterFinished near the schema's int64 bound
        threading.Event().wait(0.1)
        dispatcher.later("soon", 0.01)
        assert ran.wait(5), "the scheduler thread died on the long wait"
    finally:
        dispatcher.stop()


def test_a_failed_pass_runs_again():
    calls = []
    done = threading.Event()

    def run(key):
        calls.append(key)
        if len(calls) == 1:
            raise RuntimeError("the API server answered 500")
        done.set()

    dispatcher = Dispatcher(run)
    dispatcher.start()
    try:
        dispatcher.submit("job")
        assert done.wait(5) and calls == ["job", "job"]
    finally:
        dispatcher.stop()
