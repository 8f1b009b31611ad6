"""Authorization codes: issued by the authorization endpoint, redeemed once at the token
endpoint (RFC 6749 §4.1, RFC 7636, RFC 9700 §2.1.1).

A code is 256 random bits, stored only as its SHA-256, lives 60 s and works once.
Presenting one checks, in this order, that it exists, that the presenting client is the
one it was issued to, and (for a used code) that the PKCE verifier matches: only then
is a used code a replay, which ends the login its first use started (RFC 6749 §4.1.2).
So another client, or someone without the verifier, cannot end a person's login by
replaying a code they saw.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from idp.clock import Clock, to_datetime
from idp.logins.browser import BrowserSessions
from idp.logins.handles import new_id, secret_hash
from idp.logins.logins import CredentialsChanged, Logins
from idp.logins.refresh import new_refresh_token
from idp.ops.audit import audit
from idp.store.protocols import CodeStorage
from idp.store.records import BrowserSession, StoredCode

CODE_LIFETIME = timedelta(seconds=60)


class CodeUnusable(Exception):
    """Unknown, expired, issued to another client, or a used code without its verifier:
    nothing changes."""


class CodeReplayed(Exception):
    """The code was used before; the login its first use started has ended."""


class SignInEnded(Exception):
    """The browser signed out, or the password changed, before the code was redeemed."""


@dataclass(frozen=True)
class Redemption:
    """The login a code's redemption starts: its id is fixed before the tokens are made,
    as they carry it."""

    code: StoredCode
    sid: str


def pkce_s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Codes:
    def __init__(self, store: CodeStorage, logins: Logins, browser: BrowserSessions, clock: Clock) -> None:
        self._store = store
        self._logins = logins
        self._browser = browser
        self._clock = clock

    async def issue(self, *, client_id: str, redirect_uri: str | None, scope: str, nonce: str | None,
                    code_challenge: str, browser: BrowserSession) -> str:
        """A new code for the person of a browser session; only its hash is stored."""
        code = secrets.token_urlsafe(32)
        await self._store.create(StoredCode(
            code_hash=secret_hash(code), client_id=client_id, redirect_uri=redirect_uri,
            scope=scope, nonce=nonce, code_challenge=code_challenge, user_id=browser.user_id,
            stamp=browser.stamp, browser_sid=browser.sid,
            auth_time=int(browser.created_at.timestamp()), expires_at=self._now() + CODE_LIFETIME,
            amr=browser.amr,
        ))
        return code

    async def present(self, code: str, client_id: str, verifier: str | None) -> StoredCode:
        """The unused code, for its own client. A used code presented by its client with
        the right verifier is a replay: the login ends. Raises CodeUnusable, CodeReplayed."""
        stored = await self._store.get(secret_hash(code), self._now()) if code else None
        if stored is None or not hmac.compare_digest(stored.client_id, client_id):
            raise CodeUnusable()
        if stored.used_by is None:
            return stored
        if verifier is None or not hmac.compare_digest(pkce_s256(verifier), stored.code_challenge):
            raise CodeUnusable()
        await self._replayed(stored, stored.used_by)
        raise CodeReplayed()

    async def redeem(self, stored: StoredCode) -> Redemption:
        """Claim the code for a new login. Raises CodeReplayed when another redemption
        claimed it first (that login ends), CodeUnusable when it expired meanwhile."""
        sid = new_id()
        if await self._store.claim(stored.code_hash, sid, self._now()):
            return Redemption(stored, sid)
        again = await self._store.get(stored.code_hash, self._now())
        if again is None or again.used_by is None:
            raise CodeUnusable()
        await self._replayed(again, again.used_by)
        raise CodeReplayed()

    async def start_login(self, redemption: Redemption, refresh_token: str | None) -> None:
        """Store the login the code started (with its refresh token, or a secret nobody
        holds when the client has no refresh grant: its access tokens still need a login
        to belong to), note it on the browser session, and check that no replay came
        first. Raises SignInEnded, CodeReplayed."""
        stored, sid = redemption.code, redemption.sid
        token = refresh_token or new_refresh_token(sid)
        login = self._logins.new(sid, stored.user_id, stored.client_id, stored.scope, token.split(".", 1)[1])
        try:
            await self._logins.start(login, stored.stamp)
        except CredentialsChanged:
            raise SignInEnded() from None
        if not await self._browser.note_started(stored.browser_sid, sid):
            await self._logins.end(sid)
            raise SignInEnded()
        if await self._store.was_replayed(stored.code_hash):
            await self._logins.end(sid)
            raise CodeReplayed()
        audit("code.redeemed", user_id=stored.user_id, sid=sid, client_id=stored.client_id)

    async def _replayed(self, stored: StoredCode, sid: str) -> None:
        # the mark first: a winner that has not yet stored its login sees it and ends itself
        await self._store.mark_replayed(stored.code_hash)
        await self._logins.end(sid)
        audit("code.replayed", user_id=stored.user_id, sid=sid, client_id=stored.client_id)

    def _now(self) -> datetime:
        return to_datetime(self._clock())
