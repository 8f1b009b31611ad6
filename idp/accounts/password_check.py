"""Checking a person's password: throttled, constant in cost, rehashing when due.

Async end to end: the throttle and the credentials are read on the event loop, and the
argon2 verification is the one hop to the hashing pool. The token endpoint reaches it
from Authlib's thread through the bridge; the login page and account changes await it.
"""

from __future__ import annotations

from idp.accounts.hashing import HashingPool
from idp.accounts.passwords import needs_rehash
from idp.accounts.throttling import InFlight, SlowDown, Throttle
from idp.ops.audit import audit
from idp.store.budget import not_counted
from idp.store.users import Credentials, UserStore


class PasswordCheck:
    def __init__(self, users: UserStore, throttle: Throttle, hashing: HashingPool, per_ip_in_flight: int) -> None:
        self._users = users
        self._throttle = throttle
        self._hashing = hashing
        self._in_flight = InFlight(per_ip_in_flight)

    async def __call__(self, email_key: str, password: str, client_ip: str, *,
                       known_device: bool = False) -> Credentials | None:
        """The credentials this password opens, or None; raises SlowDown when throttled.

        An unknown e-mail and a locked account cost one argon2 verification, as a wrong
        password does, and get the same None. known_device: the browser signed in to this
        account before (exempt from the account's all-IP limit).
        """
        try:
            attempt = await self._throttle.begin_password_check(email_key, client_ip, known_device=known_device)
        except SlowDown:
            audit("login.throttled")  # no user id: looking the account up would cost a round trip
            raise
        credentials = await self._users.credentials(email_key)
        stored = credentials.password_hash if credentials and not credentials.locked else None
        # waiting for a turn and for the hash is not waiting for the database
        async with not_counted(), self._in_flight.slot(client_ip):
            matches = await self._hashing.verify(stored, password)
        if not matches:
            audit("login.failed", user_id=credentials and credentials.user_id, reason=_failure(credentials))
            return None
        assert credentials is not None and stored is not None
        await self._throttle.password_check_succeeded(attempt)
        if needs_rehash(stored):
            await self._users.set_password_hash_if_unchanged(credentials, await self._hashing.hash(password))
        return credentials


def _failure(credentials: Credentials | None) -> str:
    """Why a password check failed, for the audit line (never what was typed)."""
    if credentials is None:
        return "unknown_account"
    return "account_locked" if credentials.locked else "wrong_password"
