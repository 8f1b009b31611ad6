"""Logins: starting one (stored, enrolled in its user's list, checked against a password
change that raced it) and ending one or all of a user's."""

from __future__ import annotations

from datetime import datetime, timedelta

from idp.clock import Clock, to_datetime
from idp.logins.handles import secret_hash
from idp.store.protocols import LoginStorage
from idp.store.records import BrowserSession, Login


class CredentialsChanged(Exception):
    """The password changed (or the account went) while this login was being made."""


class Logins:
    def __init__(self, store: LoginStorage, clock: Clock, *, refresh_ttl: int, access_ttl: int,
                 max_per_user: int) -> None:
        self._store = store
        self._clock = clock
        self._refresh_ttl = timedelta(seconds=refresh_ttl)
        self._access_ttl = timedelta(seconds=access_ttl)
        self._max_per_user = max_per_user

    def now(self) -> datetime:
        return to_datetime(self._clock())

    def lifetime(self, now: datetime) -> tuple[datetime, datetime]:
        """(expires_at, purge_at) of a login or browser session made now: its access
        tokens outlive its last refresh token by one access-token lifetime."""
        expires_at = now + self._refresh_ttl
        return expires_at, expires_at + self._access_ttl

    def new(self, sid: str, user_id: str, client_id: str, scope: str, secret: str) -> Login:
        """A login as it is stored, its first refresh token's secret as a hash."""
        now = self.now()
        expires_at, purge_at = self.lifetime(now)
        return Login(
            sid=sid, user_id=user_id, client_id=client_id, scope=scope, created_at=now, issued_at=now,
            expires_at=expires_at, purge_at=purge_at, generation=0, secret_hash=secret_hash(secret),
            used_hashes=(), revoked_jtis=frozenset(),
        )

    async def start(self, login: Login, stamp: str | None) -> None:
        """Store a login, then enrol it in its user's list.

        Storing first and checking the credentials stamp after closes the race with a
        password change or deletion (which change the stamp first and end the user's
        logins after): however the two interleave, a login made with the old password
        does not survive. Raises CredentialsChanged when this login lost that race.
        """
        await self._store.create(login)
        await self.enrol(login.sid, login.user_id, stamp)

    async def enrol(self, sid: str, user_id: str, stamp: str | None) -> None:
        """Enrol a stored login or browser session; ends it (and raises
        CredentialsChanged) if the credentials changed since `stamp` was read, and ends
        the oldest logins beyond the per-user limit."""
        enrolment = await self._store.enrol(user_id, sid, self._max_per_user)
        if enrolment.stamp is None or enrolment.stamp != stamp:
            await self._store.end(sid)
            raise CredentialsChanged()
        await self._store.end_many(list(enrolment.evicted))

    async def end(self, sid: str) -> bool:
        """End one login; True if it was live."""
        return await self._store.end(sid)

    async def end_all_of(self, user_id: str) -> int:
        """End every login of a user; how many ended."""
        return await self._store.end_all_of(user_id)

    async def of_user(self, user_id: str) -> list[Login | BrowserSession]:
        """A person's live logins and browser sessions, newest first (their account page)."""
        return await self._store.of_user(user_id, self.now())

    async def end_one_of(self, user_id: str, sid: str) -> Login | BrowserSession | None:
        """End one login or browser session of this person (never another's): what ended, or None."""
        mine = next((item for item in await self.of_user(user_id) if item.sid == sid), None)
        if mine is None or not await self._store.end(mine.sid):
            return None
        return mine

    async def end_others_of(self, user_id: str, keep_sid: str) -> int:
        """End every login and browser session of a person but keep_sid; how many ended."""
        return await self._store.end_all_of(user_id, keep_sid=keep_sid)

    async def end_client_of(self, user_id: str, client_id: str) -> int:
        """End a person's logins through one client (the app they removed); how many ended."""
        sids = [item.sid for item in await self.of_user(user_id)
                if isinstance(item, Login) and item.client_id == client_id]
        await self._store.end_many(sids)
        return len(sids)
