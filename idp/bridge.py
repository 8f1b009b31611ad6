"""The one place where synchronous code (Authlib, argon2) meets the async app (Motor).

`Bridge.run_sync` runs a blocking function in a bounded worker pool, carrying the
caller's contextvars and its event loop along. Inside that function, `wait(coro)` hands
a coroutine back to that loop and blocks the worker (never the loop) until it is done.
The loop is looked up per call, not captured at start-up: every test has its own loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_loop: contextvars.ContextVar[asyncio.AbstractEventLoop] = contextvars.ContextVar("idp_loop")

DEFAULT_WORKERS = 8
HOOK_TIMEOUT_SECONDS = 30.0


class BridgeError(RuntimeError):
    """wait() was used where it cannot work (no loop, or on the loop thread itself)."""


class Bridge:
    def __init__(self, workers: int = DEFAULT_WORKERS, hook_timeout: float = HOOK_TIMEOUT_SECONDS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="idp-worker")
        self.hook_timeout = hook_timeout

    async def run_sync(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run func(*args, **kwargs) in the pool; it may call wait() to use the loop."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        context.run(_loop.set, loop)
        return await loop.run_in_executor(
            self._pool, lambda: context.run(func, *args, **kwargs)
        )

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def wait(coro: Coroutine[Any, Any, T], timeout: float = HOOK_TIMEOUT_SECONDS) -> T:
    """From a worker thread: run coro on the request's loop and return its result."""
    loop = _loop.get(None)
    if loop is None or loop.is_closed():
        coro.close()
        raise BridgeError("wait() called outside Bridge.run_sync")
    if _on_loop_thread(loop):
        coro.close()
        raise BridgeError("wait() called on the event loop thread: it would deadlock")
    try:
        future = asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError:  # the loop closed between the check and the call
        coro.close()
        raise BridgeError("the event loop is closed") from None
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return getattr(loop, "_thread_id", None) == threading.get_ident()
