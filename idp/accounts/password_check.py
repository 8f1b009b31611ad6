"""Checking a person's password: throttled, constant in cost, rehashing when due.

Synchronous on purpose: it runs in a worker thread (argon2 must never run on the event
loop) and reaches the database through bridge.wait. The token endpoint calls it from
Authlib's hook, the account endpoints through Bridge.run_sync.
"""

from __future__ import annotations

from idp.ops.audit import audit
from idp.oauth.authlib.bridge import wait
from idp.accounts.passwords import hash_password, needs_rehash, verify_password
from idp.store.users import Credentials, UserStore
from idp.accounts.throttling import SlowDown, Throttle


class PasswordCheck:
    def __init__(self, users: UserStore, throttle: Throttle) -> None:
        self._users = users
        self._throttle = throttle

    def __call__(self, email_key: str, password: str, client_ip: str) -> Credentials | None:
        """The credentials this password opens, or None; raises SlowDown when throttled.

        An unknown e-mail and a locked account cost one argon2 verification, as a wrong
        password does, and get the same None.
        """
        try:
            attempt = wait(self._throttle.begin_password_check(email_key, client_ip))
        except SlowDown:
            audit("login.throttled")  # no user id: looking the account up would cost a round trip
            raise
        credentials = wait(self._users.credentials(email_key))
        stored = credentials.password_hash if credentials and not credentials.locked else None
        if not verify_password(stored, password):
            audit("login.failed", user_id=credentials and credentials.user_id, reason=_failure(credentials))
            return None
        assert credentials is not None and stored is not None
        wait(self._throttle.password_check_succeeded(attempt))
        if needs_rehash(stored):
            wait(self._users.set_password_hash_if_unchanged(credentials, hash_password(password)))
        return credentials


def _failure(credentials: Credentials | None) -> str:
    """Why a password check failed, for the audit line (never what was typed)."""
    if credentials is None:
        return "unknown_account"
    return "account_locked" if credentials.locked else "wrong_password"
