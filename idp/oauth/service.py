"""The token lifecycle in async form: sessions, rotation, revocation, lookup.

Authlib's synchronous hooks (idp.oauth.server) call into this through bridge.wait; the
Bearer check of our own endpoints calls it directly on the loop.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from idp.clock import Clock, to_datetime
from idp.oauth.models import AccessTokenRecord, AuthenticatedUser, Client, RefreshTokenRecord, secret_hash
from idp.oauth.tokens import AccessTokenDecoder
from idp.settings import Settings
from idp.store.clients import ClientStore
from idp.store.tokens import Rotation, TokenStore
from idp.store.users import UserStore

TokenRecord = AccessTokenRecord | RefreshTokenRecord


class TokenService:
    def __init__(
        self,
        tokens: TokenStore,
        users: UserStore,
        clients: ClientStore,
        decoder: AccessTokenDecoder,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._tokens = tokens
        self._users = users
        self._clients = clients
        self._decoder = decoder
        self._settings = settings
        self._clock = clock

    def now(self) -> datetime:
        return to_datetime(self._clock())

    async def client(self, client_id: str) -> Client | None:
        doc = await self._clients.get(client_id)
        return Client.from_document(doc) if doc else None

    # -- sessions and refresh tokens -------------------------------------------------

    @staticmethod
    def new_session_id() -> str:
        return uuid.uuid4().hex

    async def start_session(self, user: AuthenticatedUser, client_id: str, scope: str, refresh_token: str) -> None:
        """A login: its session, and the first refresh token of its family."""
        now = self.now()
        expires_at = now + timedelta(seconds=self._settings.refresh_token_ttl)
        await self._tokens.create_session({
            "_id": user.sid,
            "user_id": user.user_id,
            "client_id": client_id,
            "scope": scope,
            "created_at": now,
            "expires_at": expires_at,
            "purge_at": expires_at + timedelta(seconds=self._settings.access_token_ttl),
            "ended_at": None,
        })
        await self._tokens.store_first_refresh_token(
            _refresh_document(refresh_token, user, client_id, scope, expires_at, now)
        )

    async def rotate(self, previous: RefreshTokenRecord, refresh_token: str) -> Rotation:
        """Store the successor of a presented token: same login, scope and absolute expiry."""
        doc = previous.doc
        now = self.now()
        user = AuthenticatedUser(doc["user_id"], doc["sid"])
        successor = _refresh_document(refresh_token, user, doc["client_id"], doc["scope"], doc["expires_at"], now)
        return await self._tokens.rotate_refresh_token(doc["_id"], successor, now)

    async def refresh_record(self, token: str) -> RefreshTokenRecord | None:
        doc = await self._tokens.find_refresh_token(secret_hash(token))
        if doc is None:
            return None
        now = self.now()
        live = await self._tokens.live_session(doc["sid"], now) is not None
        return RefreshTokenRecord(doc, live, now, self._settings.issuer)

    async def end_session(self, sid: str) -> None:
        await self._tokens.end_session(sid, self.now())

    async def end_other_sessions(self, user_id: str, keep_sid: str | None) -> int:
        return await self._tokens.end_user_sessions(user_id, self.now(), keep_sid)

    async def forget_user(self, user_id: str) -> None:
        await self._tokens.delete_user_tokens(user_id)

    async def user_of(self, record: RefreshTokenRecord) -> AuthenticatedUser | None:
        user = await self._users.by_id(record.doc["user_id"])
        return AuthenticatedUser(user["_id"], record.sid) if user else None

    # -- access tokens -----------------------------------------------------------------

    async def access_record(self, token: str) -> AccessTokenRecord | None:
        """The record of a token this server signed and that has not expired."""
        now = self._clock()
        claims = self._decoder.decode(token, now)
        if claims is None:
            return None
        return AccessTokenRecord(claims, not await self._is_live(claims), now)

    async def live_access_claims(self, token: str) -> dict[str, Any] | None:
        """Claims of a valid, unexpired, unrevoked access token, for our own endpoints."""
        record = await self.access_record(token)
        if record is None or record.is_revoked():
            return None
        return record.claims

    async def _is_live(self, claims: dict[str, Any]) -> bool:
        if await self._tokens.access_token_revoked(claims["jti"]):
            return False
        sid = claims.get("sid")
        if sid is None:
            return True
        return isinstance(sid, str) and await self._tokens.live_session(sid, self.now()) is not None

    # -- revocation and introspection ----------------------------------------------------

    async def find(self, token: str, hint: str | None) -> TokenRecord | None:
        """Look the token up as the hint says first, then as the other kind."""
        lookups = [self.access_record, self.refresh_record]
        if hint == "refresh_token":
            lookups.reverse()
        for lookup in lookups:
            record = await lookup(token)
            if record is not None:
                return record
        return None

    async def revoke(self, record: TokenRecord) -> None:
        """An access token: that token. A refresh token: its whole login."""
        if isinstance(record, RefreshTokenRecord):
            await self.end_session(record.sid)
        else:
            await self._tokens.revoke_access_token(
                record.claims["jti"], to_datetime(record.claims["exp"])
            )


def _refresh_document(
    token: str, user: AuthenticatedUser, client_id: str, scope: str, expires_at: datetime, now: datetime
) -> dict[str, Any]:
    """A refresh token as stored: its hash, never the token."""
    return {
        "_id": secret_hash(token),
        "sid": user.sid,
        "user_id": user.user_id,
        "client_id": client_id,
        "scope": scope,
        "created_at": now,
        "expires_at": expires_at,
        "used_at": None,
        "revoked": False,
    }
