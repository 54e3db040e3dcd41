"""One long-lived background event loop for synchronous callers.

Sync entry points (`Judge.judge`, reward callbacks called from trainer thread pools) submit
their coroutine here instead of starting a new loop per call: clients bound to a loop (the
OpenAI client's connection pool) stay valid, and calling from inside a running loop (Jupyter)
works.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="scrutiny-loop", daemon=True).start()
        return _loop


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the background loop and wait for its result (from any thread)."""
    return asyncio.run_coroutine_threadsafe(coroutine, background_loop()).result()
