"""Access tokens' liveness: a JWT this server signed, unexpired, of a client it still
knows, whose login has not ended and which was not revoked one by one.

The signature and claims are checked in the process (no round trip); liveness costs one
`_id` read: of the login the token carries (`sid`), or of the revocation list for tokens
without one (client credentials).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any, Protocol

from idp.clock import Clock, to_datetime
from idp.store.protocols import LoginStorage


class Decoder(Protocol):
    def decode(self, token: object, now: float) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token this server signed; None otherwise."""


@dataclass(frozen=True)
class AccessToken:
    claims: dict[str, Any]
    live: bool  # False: its login ended, it was revoked, or its client is gone
    now: float

    @property
    def client_id(self) -> str:
        return str(self.claims["client_id"])


class AccessTokens:
    def __init__(self, store: LoginStorage, decoder: Decoder, client_ids: Container[str], clock: Clock) -> None:
        self._store = store
        self._decoder = decoder
        self._client_ids = client_ids
        self._clock = clock

    async def find(self, token: str) -> AccessToken | None:
        """The token if this server signed it and it has not expired; live or not."""
        now = self._clock()
        claims = self._decoder.decode(token, now)
        if claims is None:
            return None
        return AccessToken(claims, await self._is_live(claims, now), now)

    async def live_claims(self, token: str) -> dict[str, Any] | None:
        """Claims of a valid, unexpired, live access token, for our own endpoints."""
        found = await self.find(token)
        return found.claims if found is not None and found.live else None

    async def revoke(self, token: AccessToken) -> None:
        sid = token.claims.get("sid")
        await self._store.revoke_access_token(sid if isinstance(sid, str) else None, token.claims["jti"],
                                              to_datetime(token.claims["exp"]))

    async def _is_live(self, claims: dict[str, Any], now: float) -> bool:
        if claims["client_id"] not in self._client_ids:
            return False
        sid = claims.get("sid")
        if sid is None:
            return not await self._store.access_token_revoked(claims["jti"])
        if not isinstance(sid, str):
            return False
        login = await self._store.get(sid, to_datetime(now))
        return login is not None and claims["jti"] not in login.revoked_jtis
