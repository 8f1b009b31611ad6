"""Authorization codes: issued by the authorization endpoint, redeemed once at the token
endpoint with PKCE (RFC 6749 §4.1, RFC 7636, RFC 9700 §2.1.1).

A code is 256 random bits, stored only as its SHA-256 (idp.store.codes), lives 60 s and
works once: the first redemption claims it under a unique `_id`; any later use is
invalid_grant and ends the login the first use started (RFC 6749 §4.1.2).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, grants

from idp.logins.browser import BrowserSessions
from idp.oauth.authlib.models import AuthenticatedUser, Client, secret_hash
from idp.oauth.protocol import AUTH_METHODS
from idp.logins.service import CredentialsChanged, TokenService
from idp.oauth.tokens import new_refresh_token, new_session_id
from idp.store.codes import CodeStore, StoredCode
from idp.store.logins import Session

CODE_LIFETIME = timedelta(seconds=60)
UNUSABLE = ("The code is unknown, expired, already used, or was issued to another client; "
            "start the sign-in again.")
REPLAYED = "The code was already used; the login it started has ended. Start the sign-in again."
ENDED = "The sign-in ended (logout or a password change) before the code was used; start it again."


@dataclass(frozen=True)
class CodeRecord:
    """A stored code as Authlib's AuthorizationCodeGrant, CodeChallenge and OpenIDCode see it."""

    stored: StoredCode

    @property
    def client_id(self) -> str:
        return self.stored.client_id

    @property
    def code_challenge(self) -> str:
        return self.stored.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return "S256"  # the only method the authorization endpoint accepts

    def get_redirect_uri(self) -> str | None:
        return self.stored.redirect_uri

    def get_scope(self) -> str:
        return self.stored.scope

    def get_nonce(self) -> str | None:
        return self.stored.nonce

    def get_auth_time(self) -> int:
        return self.stored.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str] | None:
        return list(self.stored.amr) or None


class Codes:
    def __init__(self, store: CodeStore, tokens: TokenService, browser: BrowserSessions) -> None:
        self._store = store
        self._tokens = tokens
        self._browser = browser

    async def issue(self, *, client: Client, redirect_uri: str | None, scope: str, nonce: str | None,
                    code_challenge: str, browser: Session) -> str:
        """A new code for the user of a browser session; only its hash is stored."""
        code = secrets.token_urlsafe(32)
        now = self._tokens.now()
        await self._store.create(StoredCode(
            code_hash=secret_hash(code), client_id=client.client_id, redirect_uri=redirect_uri,
            scope=scope, nonce=nonce, code_challenge=code_challenge, user_id=browser.user_id,
            stamp=browser.stamp, browser_sid=browser.sid,
            auth_time=int(browser.created_at.timestamp()), expires_at=now + CODE_LIFETIME, amr=browser.amr,
        ))
        return code

    async def find(self, code: str) -> CodeRecord | None:
        """The live, unused code; a used one ends the login its first use started and
        raises invalid_grant; None for anything else."""
        code_hash = secret_hash(code)
        stored = await self._store.get(code_hash, self._tokens.now())
        if stored is not None:
            return CodeRecord(stored)
        await self._refuse_if_used(code_hash)
        return None

    async def redeem(self, record: CodeRecord) -> AuthenticatedUser:
        """Claim the code for a new login; a lost claim is a replay (raises invalid_grant)."""
        sid = new_session_id()
        if not await self._store.claim(record.stored.code_hash, sid, self._tokens.now()):
            await self._refuse_if_used(record.stored.code_hash)
            raise InvalidGrantError(UNUSABLE)  # the claim was there a moment ago
        return AuthenticatedUser(record.stored.user_id, sid, record.stored.stamp)

    async def start_login(self, record: CodeRecord, user: AuthenticatedUser, token: dict[str, Any]) -> None:
        """Store the login the code started (with its refresh token, or a secret nobody
        holds when the client has no refresh grant: its access tokens still need a login
        to belong to), then settle the code. Raises invalid_grant when the credentials
        changed, the browser signed out, or a replay came first."""
        stored = record.stored
        refresh_token = token.get("refresh_token") or new_refresh_token(user)
        try:
            await self._tokens.start_session(user, stored.client_id, stored.scope, refresh_token)
        except CredentialsChanged:
            raise InvalidGrantError(ENDED) from None
        await self._store.delete(stored.code_hash)
        if not await self._browser.note_started(stored.browser_sid, user.sid):
            await self._tokens.end_session(user.sid)
            raise InvalidGrantError(ENDED)
        if await self._store.was_replayed(stored.code_hash):
            await self._tokens.end_session(user.sid)
            raise InvalidGrantError(REPLAYED)

    async def _refuse_if_used(self, code_hash: str) -> None:
        sid = await self._store.claimed_by(code_hash)
        if sid is None:
            return
        # the mark first: a winner that has not yet stored its login sees it and ends itself
        await self._store.mark_replayed(code_hash, self._tokens.now())
        await self._tokens.end_session(sid)
        raise InvalidGrantError(REPLAYED)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """Authlib's grant (with CodeChallenge and OpenIDCode registered beside it); storage
    through the server's hooks. Codes are issued by idp.http.authorize, not by Authlib."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def query_authorization_code(self, code: str, client: Client) -> CodeRecord:
        record = self.server.find_code(code) if isinstance(code, str) and code else None
        if record is None or not hmac.compare_digest(record.client_id, client.client_id):
            raise InvalidGrantError(UNUSABLE)
        sent = self.request.payload.redirect_uri
        if record.get_redirect_uri() is None and sent is not None and sent != client.get_default_redirect_uri():
            # omitted in the authorization request, the client's one URI was used
            raise InvalidGrantError("The redirect_uri differs from the one the code was issued for.")
        return record

    def authenticate_user(self, authorization_code: CodeRecord) -> AuthenticatedUser:
        return self.server.redeem_code(authorization_code)

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Nothing to do: storing the login settled the code (server.save_token)."""
