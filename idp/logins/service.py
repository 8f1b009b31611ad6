"""The token lifecycle in async form: logins, rotation, revocation, lookup.

Authlib's synchronous hooks (idp.oauth.server) call into this through bridge.wait; the
Bearer check of our own endpoints calls it directly on the loop. Every method reaches
the store by `_id`: a refresh token names its login, an access token carries its
login's id (`sid`), and clients live in this process.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from idp.clock import Clock, to_datetime
from idp.oauth.authlib.models import AccessTokenRecord, AuthenticatedUser, Client, RefreshTokenRecord, secret_hash
from idp.oauth.tokens import AccessTokenDecoder, split_refresh_token
from idp.settings import Settings
from idp.store.logins import Session, SessionStore

TokenRecord = AccessTokenRecord | RefreshTokenRecord


class CredentialsChanged(Exception):
    """The password changed (or the account went) while this login was being made."""


class TokenService:
    def __init__(
        self,
        sessions: SessionStore,
        clients: Mapping[str, Client],
        decoder: AccessTokenDecoder,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._clients = clients
        self._decoder = decoder
        self._settings = settings
        self._clock = clock

    def now(self) -> datetime:
        return to_datetime(self._clock())

    def client(self, client_id: str) -> Client | None:
        """Clients come from the clients file and live in the process: no round trip."""
        return self._clients.get(client_id)

    # -- logins and refresh tokens -----------------------------------------------------

    async def start_session(self, user: AuthenticatedUser, client_id: str, scope: str, refresh_token: str) -> None:
        """Store a login with its first refresh token, then add it to its user's list."""
        await self.store_login(self.new_session(user.user_id, client_id, scope, refresh_token), user.stamp)

    async def store_login(self, session: Session, stamp: str | None) -> None:
        """Store a login, then add it to its user's list.

        Storing first and checking the credentials stamp after closes the race with a
        password change or deletion (which change the stamp first and end the user's
        logins after): however the two interleave, a login made with the old password
        does not survive. Raises CredentialsChanged when this login lost that race.
        """
        await self._sessions.create(session)
        enrolment = await self._sessions.enrol(session.user_id, session.sid, self._settings.max_sessions_per_user)
        if enrolment.stamp is None or enrolment.stamp != stamp:
            await self._sessions.end(session.sid)
            raise CredentialsChanged()
        await self._sessions.end_many(list(enrolment.evicted))

    def new_session(self, user_id: str, client_id: str, scope: str, refresh_token: str) -> Session:
        """A login as it is stored, its first refresh token's secret as a hash."""
        sid, secret = _parts(refresh_token)
        now = self.now()
        expires_at = now + timedelta(seconds=self._settings.refresh_token_ttl)
        return Session(
            sid=sid, user_id=user_id, client_id=client_id, scope=scope,
            created_at=now, issued_at=now, expires_at=expires_at,
            purge_at=expires_at + timedelta(seconds=self._settings.access_token_ttl),
            generation=0, secret_hash=secret_hash(secret), used_hashes=(), revoked_jtis=frozenset(),
        )

    async def refresh_record(self, token: str) -> RefreshTokenRecord | None:
        """The presented refresh token's record: current, or `used` if rotated away."""
        parts = split_refresh_token(token)
        if parts is None:
            return None
        sid, secret = parts
        now = self.now()
        session = await self._sessions.get(sid, now)
        if session is None or session.client_id not in self._clients:
            return None
        presented = secret_hash(secret)
        if hmac.compare_digest(presented, session.secret_hash):
            return RefreshTokenRecord(session, False, now, self._settings.issuer)
        if any(hmac.compare_digest(presented, used) for used in session.used_hashes):
            return RefreshTokenRecord(session, True, now, self._settings.issuer)
        return None

    async def rotate(self, previous: RefreshTokenRecord, refresh_token: str) -> bool:
        """Make refresh_token the successor of the presented one; False when another
        request rotated the presented token first (a replay)."""
        now = self.now()
        if not await self._sessions.claim_rotation(previous.session, now):
            return False
        await self._sessions.advance(previous.session, secret_hash(_parts(refresh_token)[1]), now)
        return True

    async def end_session(self, sid: str) -> bool:
        return await self._sessions.end(sid)

    # -- access tokens -------------------------------------------------------------------

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
        if claims["client_id"] not in self._clients:
            return False
        sid = claims.get("sid")
        if sid is None:
            return not await self._sessions.access_token_revoked(claims["jti"])
        if not isinstance(sid, str):
            return False
        session = await self._sessions.get(sid, self.now())
        return session is not None and claims["jti"] not in session.revoked_jtis

    # -- revocation and introspection ----------------------------------------------------

    async def find(self, token: str, hint: str | None) -> TokenRecord | None:
        """Look the token up as the hint says first, then as the other kind (the other
        lookup costs no round trip: a JWT is not a refresh token's shape, nor the reverse)."""
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
            await self._sessions.revoke_access_token(
                record.claims.get("sid"), record.claims["jti"], to_datetime(record.claims["exp"])
            )


def _parts(refresh_token: str) -> tuple[str, str]:
    """The (sid, secret) of a refresh token this server just generated."""
    parts = split_refresh_token(refresh_token)
    assert parts is not None, "generated refresh tokens always have their sid"
    return parts
