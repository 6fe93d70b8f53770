"""The dispatcher's worker threads over the work queue: a job never runs on two threads at once, a failed pass
runs again, a far-off requeue does not stop the others. Real threads; every wait has a deadline."""

import threading
import time

from odm_operator.runtime.dispatcher import Dispatcher

DEADLINE = 10.0


def test_a_requeue_centuries_away_does_not_stop_the_scheduler():
    ran = threading.Event()
    dispatcher = Dispatcher(lambda key: ran.set() if key == "soon" else None)
    dispatcher.start()
    try:
        dispatcher.later("far", 1e12)  # ttlSecondsAfterFinished near the schema's int64 bound
        dispatcher.later("soon", 0.01)
        assert ran.wait(DEADLINE), "the workers died on the long wait"
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
        assert done.wait(DEADLINE) and calls == ["job", "job"]
    finally:
        dispatcher.stop()


def test_an_event_during_a_pass_runs_one_more_pass_after_it_on_no_other_thread():
    inside = threading.Event()
    release = threading.Event()
    second = threading.Event()
    lock = threading.Lock()
    running, overlaps, passes = [0], [0], []

    def run(key):
        with lock:
            running[0] += 1
            overlaps[0] = max(overlaps[0], running[0])
            passes.append(key)
        if len(passes) == 1:
            inside.set()
            release.wait(DEADLINE)
        else:
            second.set()
        with lock:
            running[0] -= 1

    dispatcher = Dispatcher(run, workers=4)
    dispatcher.start()
    try:
        dispatcher.submit("job")
        assert inside.wait(DEADLINE)
        for _ in range(5):  # events while the first pass runs: four idle workers could take them
            dispatcher.submit("job")
        release.set()
        assert second.wait(DEADLINE)
        deadline = time.monotonic() + DEADLINE
        while dispatcher.queue.busy("job") and time.monotonic() < deadline:  # a third pass would show here
            time.sleep(0.01)
        assert not dispatcher.queue.busy("job")
    finally:
        dispatcher.stop()
    assert overlaps[0] == 1, "two passes of one job ran at once"
    assert passes.count("job") == 2, passes
