"""One long-lived background event loop for synchronous callers.

Sync entry points (`Judge.judge`, reward callbacks called from trainer thread pools) submit
their coroutine here instead of starting a new loop per call: clients bound to a loop (the
OpenAI client's connection pool) stay valid, and calling from inside a running loop (Jupyter)
works.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="scrutiny-loop", daemon=True).start()
        return _loop


def freeze_gc() -> int:
    """Exempt every object alive now from the cyclic garbage collector (`gc.freeze()`); returns
    how many that is.

    A judging process holds some 250k long-lived objects (openai's types, LangGraph, SQLAlchemy,
    the tools' engines), and every full collection walks them all: judging at a fast model server,
    that was about a third of the process's CPU (`benchmarks/backend.py --no-freeze-gc`). Call
    it once, after the imports and the models are loaded and before the work starts, as the CLI's
    batch commands (`bench`, `refine`, `train`, `skills evolve`) do. It changes the whole
    process, so scrutiny never calls it behind a library caller's back; what it freezes is never
    collected, so call it at start-up, not in a loop.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def block_on(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the background loop and wait for its result (from any thread)."""
    return asyncio.run_coroutine_threadsafe(coroutine, background_loop()).result()


async def bounded_map(
    fn: Callable[[T], Awaitable[R]], items: Iterable[T], concurrency: int, on_done: Callable[[], None] | None = None
) -> list[R]:
    """`fn` over `items`, at most `concurrency` at once, results in order; the first failure
    cancels the rest and is raised as it is.

    `concurrency` workers share one iterator, so a batch of any size holds only the calls in
    flight: a task per item up front costs memory, and garbage-collection time with it.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    items = list(items)
    if len(items) == 1:  # nothing to run beside it: no task group (one judgment's model calls, mostly)
        result = await fn(items[0])
        if on_done is not None:
            on_done()
        return [result]
    results: list[Any] = [None] * len(items)
    work = iter(enumerate(items))

    async def worker() -> None:
        for k, item in work:
            results[k] = await fn(item)
            if on_done is not None:
                on_done()

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, len(items))):
                group.create_task(worker())
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return results
