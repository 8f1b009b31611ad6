"""The one place where synchronous code (Authlib, argon2) meets the async app (Motor).

`Bridge.run_sync` runs a blocking function in a bounded I/O pool, carrying the caller's
contextvars and its event loop along. Inside that function, `wait(coro)` hands a
coroutine back to that loop and blocks the worker (never the loop) until it is done.
The loop is looked up per call, not captured at start-up: every test has its own loop.

CPU-bound work (argon2) runs in a second, smaller pool whose threads have a lower OS
priority: `run_cpu_bound(func)`, called from an I/O worker, queues func there and waits.
A burst of logins then queues for the cores without starving the event loop or taking
the threads that other requests need to reach the database.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from idp.ops import metrics

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)

_loop: contextvars.ContextVar[asyncio.AbstractEventLoop] = contextvars.ContextVar("idp_loop")
_cpu_pool: contextvars.ContextVar[ThreadPoolExecutor] = contextvars.ContextVar("idp_cpu_pool")

DEFAULT_IO_WORKERS = 32
HOOK_TIMEOUT_SECONDS = 30.0
# added to the nice value of the CPU pool's threads: under load the event loop and the
# I/O threads (nice 0) get the cores first, hashing gets what is left
CPU_NICENESS = 10


class BridgeError(RuntimeError):
    """wait() or run_cpu_bound() was used where it cannot work (no loop, or on the loop thread)."""


class Bridge:
    def __init__(self, workers: int = DEFAULT_IO_WORKERS, cpu_workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="idp-io")
        self._cpu_pool = ThreadPoolExecutor(
            max_workers=cpu_workers or os.cpu_count() or 1, thread_name_prefix="idp-cpu",
            initializer=_lower_priority,
        )

    async def run_sync(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run func(*args, **kwargs) in the I/O pool; it may call wait() and run_cpu_bound()."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        context.run(_loop.set, loop)
        context.run(_cpu_pool.set, self._cpu_pool)
        return await loop.run_in_executor(
            self._pool, lambda: context.run(func, *args, **kwargs)
        )

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._cpu_pool.shutdown(wait=False, cancel_futures=True)


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


def run_cpu_bound(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run func in the CPU pool of the Bridge.run_sync call we are in, and wait for it.

    Outside such a call (a command-line tool, a plain thread) func runs right here; on a
    thread that runs an event loop it is refused, as it would stall every request.
    """
    if _running_loop() is not None:
        raise BridgeError(f"{func.__name__} is CPU-bound: run it through Bridge.run_sync, not on the event loop")
    pool = _cpu_pool.get(None)
    if pool is None:
        return func(*args, **kwargs)
    metrics.HASH_QUEUE.inc()  # the pool holds password hashes only: its queue is the hash queue
    try:
        future = pool.submit(metrics.timed_hash, func, *args, **kwargs)
    except RuntimeError:  # the pool shut down: this hash never waits
        metrics.HASH_QUEUE.dec()
        raise
    result: T = future.result()
    return result


def cpu_bound(func: Callable[P, T]) -> Callable[P, T]:
    """Decorate a CPU-bound function so that every call goes through run_cpu_bound."""

    @functools.wraps(func)
    def in_cpu_pool(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_cpu_bound(func, *args, **kwargs)

    return in_cpu_pool


def _lower_priority() -> None:
    """Pool initializer: raise this thread's nice value (Linux: per thread)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + CPU_NICENESS, 19))
    except (AttributeError, OSError) as exc:  # no setpriority (Windows), or not allowed
        log.debug("could not lower the priority of a hashing thread: %s", exc)


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
