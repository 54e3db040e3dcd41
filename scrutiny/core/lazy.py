"""Process-wide things built on first use (an OCR engine, a detector, an embedding model, the default
judge): built once even when several threads ask at the same moment."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def once(build: Callable[[], T]) -> Callable[[], T]:
    """`build()` on the first call, its result on every later one; a build that raises is tried again
    next time. `.reset()` forgets the result (tests, a changed environment)."""
    lock = threading.Lock()
    made: list[T] = []

    @functools.wraps(build)
    def get() -> T:
        if made:  # the common case: no lock once built
            return made[0]
        with lock:
            if not made:
                made.append(build())
            return made[0]

    get.reset = made.clear  # type: ignore[attr-defined]
    return get
