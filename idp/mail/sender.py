"""The sender: a task in each worker process that delivers what the outbox holds.

It claims one due message at a time (idp.store.outbox: atomic, leased), sends it, and
writes the outcome. A temporary failure (the server down, slow, or answering 4xx) is
tried again with a growing delay, for at least RETRY_FOR; a permanent refusal (5xx)
fails at once. Messages that another process queued (an admin command, another worker
or host) are found by polling; those this process queues wake it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from idp.clock import Clock, to_datetime
from idp.mail.transport import Refused, Transport
from idp.ops import metrics
from idp.store.outbox import FAILED, SENT, Claimed, Message, OutboxStore

log = logging.getLogger(__name__)

Preparer = Callable[[dict[str, Any]], Awaitable[Message | None]]
"""Turns a job into its message; None when there is nothing to send (no such account)."""

DROPPED = "dropped"
RETRY_FOR = timedelta(hours=25)  # at least a day, whatever the backoff's last step
FIRST_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 3600
WAKE_DELAY_SECONDS = 0.05


def backoff(attempts: int) -> timedelta:
    """30 s after the first failure, doubling, at most an hour."""
    return timedelta(seconds=min(FIRST_DELAY_SECONDS * 2 ** max(0, attempts - 1), MAX_DELAY_SECONDS))


class Sender:
    def __init__(self, store: OutboxStore, transport: Transport, clock: Clock, *,
                 poll_seconds: float = 5.0, lease_seconds: float = 300.0) -> None:
        self._store = store
        self._transport = transport
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._lease_seconds = lease_seconds
        self._preparers: dict[str, Preparer] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    def prepare_with(self, kind: str, preparer: Preparer) -> None:
        self._preparers[kind] = preparer

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll. Safe from any
        thread; a sender that is not running here leaves it to the next poll."""
        if self._task is None:
            return
        loop = self._task.get_loop()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_now()
        else:
            loop.call_soon_threadsafe(self._wake_now)

    def _wake_now(self) -> None:
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="idp-mail-sender")

    async def stop(self) -> None:
        """Stop; a message being sent stays claimed and is sent again after its lease."""
        self._stopping = True
        self._wake.set()  # a cancellation that a library swallows still ends the loop at once
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._idle.set()

    async def idle(self) -> None:
        """Wait until nothing that was due when woken is left (for tests and shutdown)."""
        await self._idle.wait()

    async def deliver_due(self) -> int:
        """Send every message due now; returns how many were handled."""
        handled = 0
        while (claimed := await self._store.claim(self._now(), self._lease_seconds)) is not None:
            await self._handle(claimed)
            handled += 1
        return handled

    async def _run(self) -> None:
        failing = False
        while not self._stopping:
            self._wake.clear()
            try:
                await self.deliver_due()
                await self._measure()
            except Exception as exc:  # the database, mostly: the task must outlive it
                if _cancelled():
                    raise asyncio.CancelledError() from exc
                if not failing:
                    log.warning("mail sender: the outbox could not be read (%s); retrying", type(exc).__name__)
                failing = True
            else:
                failing = False
            if not self._wake.is_set():
                self._idle.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
                # Woken by a request: let it answer first. Preparing its message on the same
                # loop meanwhile would make a reset for a known address answer later than
                # one for an unknown address.
                await asyncio.sleep(WAKE_DELAY_SECONDS)

    async def _handle(self, claimed: Claimed) -> None:
        now = self._now()
        try:
            message = claimed.message or await self._prepare(claimed)
            if message is None:
                await self._store.settle(claimed, DROPPED, now)
                return
            await self._transport.send(message)
        except Refused as exc:
            log.warning("mail %s refused by the mail server (%d): not sent", claimed.message_id, exc.code)
            await self._fail(claimed, now)
        except Exception as exc:
            if _cancelled():  # a client library turned our cancellation into its own error
                raise asyncio.CancelledError() from exc
            await self._later(claimed, now, exc)
        else:
            await self._store.settle(claimed, SENT, self._now())
            metrics.MAIL_SENT.inc()
            log.info("mail %s sent (attempt %d)", claimed.message_id, claimed.attempts)

    async def _prepare(self, claimed: Claimed) -> Message | None:
        job = claimed.job or {}
        preparer = self._preparers.get(str(job.get("kind")))
        if preparer is None:
            raise LookupError(f"no preparer for mail job {job.get('kind')!r}")
        message = await preparer(job)
        if message is not None:
            await self._store.prepared(claimed, message)
        return message

    async def _later(self, claimed: Claimed, now: datetime, exc: Exception) -> None:
        code = getattr(exc, "code", None)
        why = f"{type(exc).__name__}{f' {code}' if code else ''}"
        if now - claimed.created_at >= RETRY_FOR:
            log.error("mail %s not sent after %d attempts over a day (%s): given up",
                      claimed.message_id, claimed.attempts, why)
            await self._fail(claimed, now)
            return
        when = now + backoff(claimed.attempts)
        log.warning("mail %s not sent (%s); next try in %d s", claimed.message_id, why,
                    (when - now).total_seconds())
        await self._store.retry_at(claimed, when)

    async def _fail(self, claimed: Claimed, now: datetime) -> None:
        await self._store.settle(claimed, FAILED, now)
        metrics.MAIL_FAILED.inc()

    async def _measure(self) -> None:
        oldest = await self._store.oldest_pending()
        age = (self._now() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.MAIL_OLDEST_PENDING.set(max(0.0, age))

    def _now(self) -> datetime:
        return to_datetime(self._clock())


def _cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
