"""Argon2 off the event loop: a bounded pool of low-priority threads, awaited from the loop.

Hashing is the one CPU-heavy thing the server does. Its own pool, sized to the cores,
means a burst of logins queues for the cores instead of stalling the event loop or
taking the threads that other requests use; its threads run at a higher nice value, so
under load the event loop gets the cores first and hashing gets what is left. Callers
await `verify` and `hash` from the loop: one hop to this pool and back, no other thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from idp.accounts import passwords
from idp.ops import metrics
from idp.store.budget import not_counted

log = logging.getLogger(__name__)

T = TypeVar("T")

# added to the nice value of the pool's threads (Linux: per thread)
NICENESS = 10


class HashingPool:
    def __init__(self, workers: int | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                                        thread_name_prefix="idp-hash", initializer=_lower_priority)

    async def hash(self, password: str) -> str:
        return await self._run(passwords.hash_password, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when password matches; with no stored hash, the same time and False."""
        return await self._run(passwords.verify_password, stored_hash, password)

    async def _run(self, func: Callable[..., T], *args: str | None) -> T:
        waiting = _Waiting()
        try:
            async with not_counted():  # waiting for a hash is not waiting for the database
                return await asyncio.get_running_loop().run_in_executor(self._pool, _timed, waiting, func, *args)
        finally:
            waiting.over()  # a hash cancelled or refused before it started waits no more

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Waiting:
    """One hash in the queue gauge, taken out exactly once: when a thread starts it,
    or when its caller stops waiting for it, whichever comes first."""

    def __init__(self) -> None:
        self._token = [True]
        metrics.HASH_QUEUE.inc()

    def over(self) -> None:
        try:
            self._token.pop()  # atomic: of the two callers, one pops
        except IndexError:
            return
        metrics.HASH_QUEUE.dec()


def _timed(waiting: _Waiting, func: Callable[..., T], *args: object) -> T:
    """On a hashing thread: it no longer waits, and its time counts."""
    waiting.over()
    started = time.perf_counter()
    try:
        return func(*args)
    finally:
        metrics.HASH_SECONDS.observe(time.perf_counter() - started)


def _lower_priority() -> None:
    """Pool initializer: raise this thread's nice value."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + NICENESS, 19))
    except (AttributeError, OSError) as exc:  # no setpriority (Windows), or not allowed
        log.debug("could not lower the priority of a hashing thread: %s", exc)
