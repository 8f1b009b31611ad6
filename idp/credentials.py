"""Checking a person's password: throttled, constant in cost, rehashing when due.

Synchronous on purpose: it runs in a worker thread (argon2 must never run on the event
loop) and reaches the database through bridge.wait. The token endpoint calls it from
Authlib's hook, the account endpoints through Bridge.run_sync.
"""

from __future__ import annotations

from typing import Any

from idp.bridge import wait
from idp.passwords import hash_password, needs_rehash, verify_password
from idp.store.users import UserStore
from idp.throttling import Throttle


class PasswordCheck:
    def __init__(self, users: UserStore, throttle: Throttle) -> None:
        self._users = users
        self._throttle = throttle

    def __call__(self, email_key: str, password: str, client_ip: str) -> dict[str, Any] | None:
        """The user whose password this is, or None; raises SlowDown when throttled.

        An unknown e-mail costs one argon2 verification, as a wrong password does.
        """
        attempt = wait(self._throttle.begin_password_check(email_key, client_ip))
        user = wait(self._users.by_email_key(email_key))
        stored = user["password_hash"] if user else None
        if not verify_password(stored, password):
            return None
        assert user is not None and stored is not None
        wait(self._throttle.password_check_succeeded(attempt))
        if needs_rehash(stored):
            wait(self._users.set_password_hash_if_unchanged(user["_id"], stored, hash_password(password)))
        return user
