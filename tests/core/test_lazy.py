"""A process-wide thing is built once, however many threads ask for it at once."""

import threading
import time

import pytest

from scrutiny.core.lazy import once


def test_built_once_under_many_threads_and_again_after_a_failure_or_a_reset():
    built = []

    @once
    def engine():
        time.sleep(0.05)  # long enough for every thread to arrive while it is being built
        built.append(object())
        return built[-1]

    seen = []
    threads = [threading.Thread(target=lambda: seen.append(engine())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and all(s is built[0] for s in seen)
    engine.reset()
    assert engine() is built[1]

    attempts = []

    @once
    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("not yet")
        return "ready"

    with pytest.raises(RuntimeError):
        flaky()
    assert flaky() == "ready" and flaky() == "ready" and len(attempts) == 2
