"""Login and registration throttling (the contract's "Throttling" paragraph).

A sliding window: an attempt is refused while the key already has `limit` counted
attempts in the last `window` seconds; Retry-After says when the oldest of them
leaves the window. Attempts are counted *before* the password is checked, so that a
burst of concurrent guesses cannot slip past the limit while the first ones are still
being verified. A refused attempt is not counted (hammering does not extend the
wait), and a success takes its own attempt back: the e-mail's count is cleared, the
IP's loses just this attempt (an attacker must not be able to clear the IP count by
logging into an account of their own). Nobody is locked out for good.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from idp.ops import metrics
from idp.clock import Clock, to_datetime
from idp.settings import Settings
from idp.store.throttle import ThrottleStore, attempt_time


class SlowDown(Exception):
    """Too many attempts: retry after retry_after seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class PasswordAttempt:
    """The attempts one password check counted, to be taken back if it succeeds."""

    email_key: str
    ip_key: str
    ip_attempt: str


class Throttle:
    def __init__(self, store: ThrottleStore, settings: Settings, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock

    async def begin_password_check(self, email_key: str, ip: str) -> PasswordAttempt:
        """Count one password check for this e-mail and IP; SlowDown past either limit."""
        email = _key("email", email_key)
        email_attempt = await self._count(email, self._settings.login_max_failures)
        ip_key = _key("ip", ip)
        try:
            ip_attempt = await self._count(ip_key, self._settings.ip_max_failures)
        except SlowDown:
            await self._store.forget(email, email_attempt)
            raise
        return PasswordAttempt(email, ip_key, ip_attempt)

    async def password_check_succeeded(self, attempt: PasswordAttempt) -> None:
        await self._store.settle(attempt.email_key, (attempt.ip_key, attempt.ip_attempt))

    async def count_registration(self, ip: str) -> None:
        await self._count(_key("register", ip), self._settings.register_max_per_ip)

    async def _count(self, key: str, limit: int) -> str:
        now = to_datetime(self._clock())
        window = self._settings.login_window
        since = now - timedelta(seconds=window)
        attempt, stored = await self._store.record(key, now, window)
        in_window = sorted(at for at in map(attempt_time, stored) if at > since)
        if len(stored) > 2 * limit + PRUNE_SLACK:
            await self._store.prune(key, [a for a in stored if attempt_time(a) <= since])
        if len(in_window) <= limit:
            return attempt
        await self._store.forget(key, attempt)
        metrics.THROTTLED.labels(key.partition(":")[0]).inc()
        raise SlowDown(self._retry_after(in_window[0], now))

    def _retry_after(self, oldest: datetime, now: datetime) -> int:
        return max(1, math.ceil((oldest - now).total_seconds() + self._settings.login_window))


PRUNE_SLACK = 16
"""Attempts that left the window stay stored until the list is this much longer than
twice the limit: pruning is one more command, paid once in a while, not per attempt."""


def _key(kind: str, value: str) -> str:
    """Attempts are keyed by a digest: no e-mail address is stored, and keys stay short."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"
