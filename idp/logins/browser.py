"""Browser sessions: the login a person makes on the sign-in page, kept in a cookie.

A browser session is a login like any other (a `Session` in the sessions store), so the
session cap, a password change, a deletion, a lock and logout end it without code of
its own. Its client id, BROWSER, is no client's (the clients file refuses it), so no
grant, revocation or introspection ever accepts its cookie value as a refresh token.
The cookie holds `<sid>.<secret>`, the shape of a refresh token: the sid names the record
(one `_id` read), the secret proves possession; only the secret's hash is stored.
"""

from __future__ import annotations

import hmac
from dataclasses import replace

from idp.oauth.authlib.models import AuthenticatedUser, secret_hash
from idp.logins.service import TokenService
from idp.oauth.tokens import new_refresh_token, new_session_id, split_refresh_token
from idp.store.logins import Session, SessionStore

BROWSER = "~browser"
"""The client id of browser sessions: not a valid client id in the clients file."""


class BrowserSessions:
    def __init__(self, tokens: TokenService, sessions: SessionStore) -> None:
        self._tokens = tokens
        self._sessions = sessions

    async def start(self, user_id: str, stamp: str, amr: tuple[str, ...] = ("pwd",)) -> tuple[str, Session]:
        """A new browser session for a password just checked against credentials `stamp`;
        returns (the cookie value, the session). Raises CredentialsChanged. amr: how the
        person signed in (RFC 8176), carried on to the ID tokens of its codes."""
        cookie = new_refresh_token(AuthenticatedUser(user_id, new_session_id()))
        session = replace(self._tokens.new_session(user_id, BROWSER, "", cookie), stamp=stamp, amr=amr)
        await self._tokens.store_login(session, stamp)
        return cookie, session

    async def find(self, cookie: str | None) -> Session | None:
        """The live browser session the cookie names and proves, or None."""
        parts = split_refresh_token(cookie)
        if parts is None:
            return None
        sid, secret = parts
        now = self._tokens.now()
        session = await self._sessions.get(sid, now)
        if (session is None or session.client_id != BROWSER or session.expires_at <= now
                or not hmac.compare_digest(secret_hash(secret), session.secret_hash)):
            return None
        return session

    async def end(self, session: Session) -> None:
        """Sign the browser out: its session, and the logins its codes started."""
        await self._sessions.end_browser_session(session.sid)

    async def replace(self, previous: Session, current: Session) -> None:
        """The browser signed in again: the same person's new session takes over the logins
        the previous one started; another person's previous session just ends (the logins
        it gave to apps stay theirs)."""
        if previous.user_id == current.user_id:
            await self._sessions.hand_over_started(previous.sid, current.sid)
        else:
            await self._sessions.end(previous.sid)

    async def note_started(self, browser_sid: str, sid: str) -> bool:
        return await self._sessions.note_started(browser_sid, sid)
