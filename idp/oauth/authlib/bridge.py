"""Where Authlib's synchronous server meets the async app: the only such place.

Authlib has no async server, so the token, revocation and introspection endpoints run
its core in a thread of a bounded I/O pool (`Bridge.run_sync`), carrying the caller's
contextvars and event loop along. Inside it, each storage hook hands its coroutine back
to that loop with `wait(coro)` and blocks the worker (never the loop) until it is done.
The loop is looked up per call, not captured at start-up: every test has its own loop.
Nothing outside idp.oauth.authlib runs in this pool or calls `wait`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)

_loop: contextvars.ContextVar[asyncio.AbstractEventLoop] = contextvars.ContextVar("idp_loop")

DEFAULT_IO_WORKERS = 32
HOOK_TIMEOUT_SECONDS = 30.0


class BridgeError(RuntimeError):
    """wait() was used where it cannot work (no loop, or on the loop thread)."""


class Bridge:
    def __init__(self, workers: int = DEFAULT_IO_WORKERS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="idp-io")

    async def run_sync(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run func(*args, **kwargs) in the I/O pool; it may call wait()."""
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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    running = _running_loop()
    if running is not None:
        return running is loop
    return getattr(loop, "_thread_id", None) == threading.get_ident()
