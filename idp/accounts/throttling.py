"""Login and registration throttling.

Three limits on password checks, each a sliding window of IDP_LOGIN_WINDOW seconds:

- per e-mail *and* client IP (IDP_LOGIN_MAX_FAILURES): the one a guesser meets first.
  Counting per e-mail alone let anyone lock a person out with ten wrong passwords from
  anywhere; counted per e-mail and IP, a stranger's guesses lock out only the stranger;
- per e-mail over all IPs (IDP_ACCOUNT_MAX_FAILURES), so guessing spread over many
  addresses is bounded too. A browser that signed in to the account before (a device
  cookie, checked by the HTTP layer) is exempt, so a stranger cannot lock the owner out;
- per client IP (IDP_IP_MAX_FAILURES), over all e-mails.

Both e-mail limits are read from one document per e-mail, whose attempts carry a digest
of the IP they came from: one database command counts both. Attempts are counted
*before* the password is checked, so a burst of concurrent guesses cannot slip past a
limit while the first ones are still being verified. A refused attempt is not counted
(hammering does not extend the wait); a success takes back this IP's attempts on the
e-mail and its own attempt on the IP (an attacker must not clear the IP count by signing
in to an account of their own). Nobody is locked out for good.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from idp.clock import Clock, to_datetime
from idp.ops import metrics
from idp.settings import Settings
from idp.store.throttle import ThrottleStore, attempt_tag, attempt_time


class SlowDown(Exception):
    """Too many attempts: retry after retry_after seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class PasswordAttempt:
    """The attempts one password check counted, to be taken back if it succeeds."""

    email_key: str
    this_ip_on_email: tuple[str, ...]
    ip_key: str
    ip_attempt: str


class Throttle:
    def __init__(self, store: ThrottleStore, settings: Settings, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock

    async def begin_password_check(self, email_key: str, ip: str, *, known_device: bool = False) -> PasswordAttempt:
        """Count one password check for this e-mail from this IP; SlowDown past a limit.

        known_device: the browser proved it signed in to this account before, so the
        all-IP limit of the account does not apply to it."""
        now, since = self._window()
        email, tag = _key("email", email_key), _digest(ip)[:16]
        attempt, stored = await self._store.record(email, now, self._settings.login_window, tag)
        in_window = [a for a in stored if attempt_time(a) > since]
        from_here = [a for a in in_window if attempt_tag(a) == tag]
        limits = [(from_here, self._settings.login_max_failures, "email")]
        if not known_device:
            limits.append((in_window, self._settings.account_max_failures, "account"))
        for counted, limit, name in limits:
            if len(counted) > limit:
                await self._store.forget(email, [attempt])
                raise self._refused(counted, name, now)
        await self._prune_if_long(email, stored, since)
        ip_key = _key("ip", ip)
        try:
            ip_attempt = await self._count(ip_key, self._settings.ip_max_failures)
        except SlowDown:
            await self._store.forget(email, [attempt])
            raise
        return PasswordAttempt(email, tuple(from_here), ip_key, ip_attempt)

    async def password_check_succeeded(self, attempt: PasswordAttempt) -> None:
        await self._store.settle((attempt.email_key, list(attempt.this_ip_on_email)),
                                 (attempt.ip_key, [attempt.ip_attempt]))

    async def count_registration(self, ip: str) -> None:
        await self._count(_key("register", ip), self._settings.register_max_per_ip)

    async def count_recovery_request(self, ip: str) -> None:
        """Password-reset and verification requests from one IP: as many per window as
        registrations (IDP_REGISTER_MAX_PER_IP), counted on their own."""
        await self._count(_key("recovery", ip), self._settings.register_max_per_ip)

    async def space_messages(self, kind: str, subject: str, *, per_window: int | None = None) -> int:
        """Count one message of `kind` to `subject` (an address, a user) if it may go now:
        at most one per MESSAGE_INTERVAL seconds, and per_window per IDP_LOGIN_WINDOW.
        Returns 0 when it may (and counted it), else the seconds until one may."""
        now, since = self._window()
        key = _key(kind, subject)
        attempt, stored = await self._store.record(key, now, self._settings.login_window)
        earlier = [a for a in stored if a != attempt and attempt_time(a) > since]
        await self._prune_if_long(key, stored, since)
        wait = 0.0
        if earlier:
            wait = MESSAGE_INTERVAL - (now - max(attempt_time(a) for a in earlier)).total_seconds()
        if per_window is not None and len(earlier) >= per_window:
            oldest = min(attempt_time(a) for a in earlier)
            wait = max(wait, (oldest - now).total_seconds() + self._settings.login_window)
        if wait <= 0:
            return 0
        await self._store.forget(key, [attempt])
        return max(1, math.ceil(wait))

    async def _count(self, key: str, limit: int) -> str:
        now, since = self._window()
        attempt, stored = await self._store.record(key, now, self._settings.login_window)
        in_window = [a for a in stored if attempt_time(a) > since]
        await self._prune_if_long(key, stored, since)
        if len(in_window) <= limit:
            return attempt
        await self._store.forget(key, [attempt])
        raise self._refused(in_window, key.partition(":")[0], now)

    def _window(self) -> tuple[datetime, datetime]:
        now = to_datetime(self._clock())
        return now, now - timedelta(seconds=self._settings.login_window)

    async def _prune_if_long(self, key: str, stored: list[str], since: datetime) -> None:
        """Attempts that left the window stay stored until PRUNE_SLACK of them have piled
        up: pruning is one more command, paid once in a while, not per attempt."""
        expired = [a for a in stored if attempt_time(a) <= since]
        if len(expired) > PRUNE_SLACK:
            await self._store.forget(key, expired)

    def _refused(self, counted: list[str], limit: str, now: datetime) -> SlowDown:
        metrics.THROTTLED.labels(limit).inc()
        oldest = min(attempt_time(a) for a in counted)
        return SlowDown(max(1, math.ceil((oldest - now).total_seconds() + self._settings.login_window)))


PRUNE_SLACK = 16
MESSAGE_INTERVAL = 60
"""Seconds between two messages of one kind to one address or user."""


class InFlight:
    """At most `limit` password checks of one client IP hash at once, in this process; the
    excess waits its turn, so one address cannot take every hashing thread."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def slot(self, ip: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.get(ip, (asyncio.Semaphore(self._limit), 0))
        self._slots[ip] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[ip]
            if users == 1:
                del self._slots[ip]
            else:
                self._slots[ip] = (semaphore, users - 1)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _key(kind: str, value: str) -> str:
    """Attempts are keyed by a digest: no e-mail address or IP is stored, and keys stay short."""
    return f"{kind}:{_digest(value)}"
