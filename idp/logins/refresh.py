"""Refresh tokens: presenting one, and rotating it (RFC 6749 §6, RFC 9700 §4.14.2).

A refresh token is a handle `<sid>.<secret>`: the sid names its login, whose document
holds the hash of the current secret and of the last ones rotated away. Presenting a
token gives its login, or a domain outcome:

- RefreshUnknown: not a token of ours, ended, expired, or issued to another client
  (which changes nothing: a client cannot end another client's login);
- RefreshReused: a token rotated away came back. This is the one place where reuse ends
  the login and where `refresh.reused` is audited.

One exception (IDP_REFRESH_REUSE_GRACE = N > 0): the token rotated away most recently,
presented again by its client within N seconds of its rotation (a client that never got
the answer), rotates again: the pair it replaces counts as used from then on, with no
retry of its own, so of two holders one is caught at its next refresh. Two generations
back is always reuse.

Rotation is one compare-and-set of the login document (LoginStorage.rotate): whatever
interrupts it, the presented token either still works or was replaced.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from idp.clock import Clock, to_datetime
from idp.logins.handles import new_handle, secret_hash, split_handle
from idp.ops.audit import audit
from idp.store.protocols import LoginStorage
from idp.store.records import Login


class RefreshUnknown(Exception):
    """Unknown, ended, expired, or another client's: nothing changes."""


class RefreshReused(Exception):
    """A refresh token rotated away came back; its login has ended."""


@dataclass(frozen=True)
class RefreshView:
    """A refresh token as introspection sees it: its login, and whether it is current."""

    login: Login
    current: bool


def new_refresh_token(sid: str) -> str:
    return new_handle(sid)


def refresh_token_sid(token: object) -> str | None:
    parts = split_handle(token)
    return parts[0] if parts else None


class Refresh:
    def __init__(self, store: LoginStorage, clock: Clock, *, grace_seconds: int = 0) -> None:
        self._store = store
        self._clock = clock
        self._grace = grace_seconds

    async def present(self, token: str, client_id: str) -> Login:
        """The login whose refresh token `token` may rotate (the current one, or the one
        rotated away last within the grace period). Raises RefreshUnknown, RefreshReused."""
        login, presented = await self._find(token)
        if login is None or presented is None or not hmac.compare_digest(login.client_id, client_id):
            raise RefreshUnknown()
        if hmac.compare_digest(presented, login.secret_hash) or self._retry_within_grace(login, presented):
            return login
        if any(hmac.compare_digest(presented, used) for used in login.used_hashes):
            await self._store.end(login.sid)
            audit("refresh.reused", user_id=login.user_id, sid=login.sid)
            raise RefreshReused()
        raise RefreshUnknown()

    async def rotate(self, login: Login, token: str, successor: str) -> Login:
        """Make `successor` the login's current refresh token, in one compare-and-set
        against the login as presented. A lost race (another request rotated first) is
        decided by presenting `token` again: within the grace period that rotates once
        more; otherwise it is reuse. Raises RefreshUnknown, RefreshReused."""
        new_hash = secret_hash(_secret(successor))
        if await self._store.rotate(login, new_hash, self._now(), retriable=self._is_current(login, token)):
            return login
        again = await self.present(token, login.client_id)
        if await self._store.rotate(again, new_hash, self._now(), retriable=self._is_current(again, token)):
            return again
        raise RefreshUnknown()  # a third request rotated in between: retry with the newest token

    async def inspect(self, token: str) -> RefreshView | None:
        """The token's login and whether the token is current, with no side effect."""
        login, presented = await self._find(token)
        if login is None or presented is None:
            return None
        if hmac.compare_digest(presented, login.secret_hash):
            return RefreshView(login, True)
        if any(hmac.compare_digest(presented, used) for used in login.used_hashes):
            return RefreshView(login, False)
        return None

    async def _find(self, token: str) -> tuple[Login | None, str | None]:
        parts = split_handle(token)
        if parts is None:
            return None, None
        sid, secret = parts
        now = self._now()
        login = await self._store.get(sid, now)
        if login is None or login.expires_at <= now:
            return None, None
        return login, secret_hash(secret)

    @staticmethod
    def _is_current(login: Login, token: str) -> bool:
        """False for a retry within the grace period: the pair it replaces gets no retry."""
        return hmac.compare_digest(secret_hash(_secret(token)), login.secret_hash)

    def _retry_within_grace(self, login: Login, presented: str) -> bool:
        if self._grace <= 0 or not login.used_hashes or login.rotated_at is None:
            return False
        elapsed = (self._now() - login.rotated_at).total_seconds()
        return elapsed <= self._grace and hmac.compare_digest(presented, login.used_hashes[-1])

    def _now(self) -> datetime:
        return to_datetime(self._clock())


def _secret(token: str) -> str:
    parts = split_handle(token)
    assert parts is not None, "refresh tokens are generated by new_refresh_token"
    return parts[1]
