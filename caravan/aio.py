"""Run a coroutine to completion from sync code, inside or outside a running event loop.

`asyncio.run` refuses to start inside a running loop (a Jupyter cell, an async Ray actor).
There the coroutine runs on one dedicated background loop thread instead, and the caller
blocks until it finishes, which is what a sync call promises.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="caravan-loop", daemon=True)
            thread.start()
            _loop, _thread = loop, thread
        return _loop


def in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result; works with or without a running loop in this thread."""
    if not in_running_loop():
        return asyncio.run(coro)
    loop = _background_loop()
    if threading.current_thread() is _thread:
        raise RuntimeError("a sync caravan call inside caravan's own loop; await the async form")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()
