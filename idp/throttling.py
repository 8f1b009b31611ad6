"""Login and registration throttling (the contract's "Throttling" paragraph).

Attempts are counted *before* the password is checked, so that a burst of concurrent
guesses cannot slip past the limit while the first ones are still being verified: the
N+1st attempt in a window is refused whatever it carries. A success then takes its
own attempt back: the e-mail's counter is cleared, the IP's is decremented (an
attacker must not be able to clear the IP counter by logging into an account of their
own). Nobody is locked out for good: a counter lives for one window, then expires.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime

from idp.clock import Clock, to_datetime
from idp.settings import Settings
from idp.store.throttle import ThrottleStore, Window


class SlowDown(Exception):
    """Too many attempts: retry after retry_after seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class Throttle:
    def __init__(self, store: ThrottleStore, settings: Settings, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock

    async def begin_password_check(self, email_key: str, ip: str) -> None:
        """Count one password check for this e-mail and IP; SlowDown past either limit."""
        now = self._now()
        window = self._settings.login_window
        by_email = await self._store.hit(_key("email", email_key), window, now)
        by_ip = await self._store.hit(_key("ip", ip), window, now)
        self._enforce(by_email, self._settings.login_max_failures, now)
        self._enforce(by_ip, self._settings.ip_max_failures, now)

    async def password_check_succeeded(self, email_key: str, ip: str) -> None:
        await self._store.reset(_key("email", email_key))
        await self._store.undo(_key("ip", ip), self._now())

    async def count_registration(self, ip: str) -> None:
        now = self._now()
        window = await self._store.hit(_key("register", ip), self._settings.login_window, now)
        self._enforce(window, self._settings.register_max_per_ip, now)

    def _enforce(self, window: Window, limit: int, now: datetime) -> None:
        if window.count > limit:
            raise SlowDown(max(1, math.ceil((window.ends_at - now).total_seconds())))

    def _now(self) -> datetime:
        return to_datetime(self._clock())


def _key(kind: str, value: str) -> str:
    """Counters are keyed by a digest: no e-mail address is stored, and keys stay short."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"
