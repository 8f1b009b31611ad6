"""Browser sessions: the sign-in a person makes on the sign-in page, named by a cookie.

A browser session is stored beside the logins (idp.store.logins), so that the per-user
cap, a password change, a deletion, a lock and logout end it without code of its own;
but it is its own record (BrowserSession) and the store never hands one out as a login,
so no grant, revocation or introspection accepts its cookie as a refresh token. The
cookie is a handle `<sid>.<secret>`: the sid names the record, the secret proves
possession, and only the secret's hash is stored.
"""

from __future__ import annotations

import hmac

from idp.clock import Clock, to_datetime
from idp.logins.handles import new_handle, new_id, secret_hash, split_handle
from idp.logins.logins import Logins
from idp.store.protocols import LoginStorage
from idp.store.records import BROWSER, BrowserSession

__all__ = ["BROWSER", "BrowserSession", "BrowserSessions", "new_cookie", "read_cookie"]


def new_cookie() -> str:
    """A cookie value for a new browser session."""
    return new_handle(new_id())


def read_cookie(value: object) -> tuple[str, str] | None:
    """(sid, secret) of a cookie value of our shape; None for anything else."""
    return split_handle(value)


class BrowserSessions:
    def __init__(self, store: LoginStorage, logins: Logins, clock: Clock) -> None:
        self._store = store
        self._logins = logins
        self._clock = clock

    async def start(self, user_id: str, stamp: str, amr: tuple[str, ...] = ("pwd",)) -> tuple[str, BrowserSession]:
        """A new browser session for a sign-in just checked against credentials `stamp`;
        returns (the cookie value, the session). Raises CredentialsChanged. amr: how the
        person signed in (RFC 8176), carried on to the ID tokens of its codes."""
        cookie = new_cookie()
        sid, secret = cookie.split(".", 1)
        now = to_datetime(self._clock())
        expires_at, purge_at = self._logins.lifetime(now)
        session = BrowserSession(sid=sid, user_id=user_id, stamp=stamp, created_at=now,
                                 expires_at=expires_at, purge_at=purge_at, secret_hash=secret_hash(secret), amr=amr)
        await self._store.create_browser(session)
        await self._logins.enrol(sid, user_id, stamp)
        return cookie, session

    async def find(self, cookie: str | None) -> BrowserSession | None:
        """The live browser session the cookie names and proves, or None."""
        parts = read_cookie(cookie)
        if parts is None:
            return None
        sid, secret = parts
        now = to_datetime(self._clock())
        session = await self._store.get_browser(sid, now)
        if (session is None or session.expires_at <= now
                or not hmac.compare_digest(secret_hash(secret), session.secret_hash)):
            return None
        return session

    async def end(self, session: BrowserSession) -> None:
        """Sign the browser out: its session, and the logins its codes started."""
        await self._store.end_browser_session(session.sid)

    async def replace(self, previous: BrowserSession, current: BrowserSession) -> None:
        """The browser signed in again: the same person's new session takes over the logins
        the previous one started; another person's previous session just ends (the logins
        it gave to apps stay theirs)."""
        if previous.user_id == current.user_id:
            await self._store.hand_over_started(previous.sid, current.sid)
        else:
            await self._store.end(previous.sid)

    async def note_started(self, browser_sid: str, sid: str) -> bool:
        """Record a login one of the session's codes started; False if it has ended."""
        return await self._store.note_started(browser_sid, sid)
