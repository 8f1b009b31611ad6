"""The self-service rules: register, read, change and delete one's own account.

What a change revokes, and why:
- a new password ends every other login of the user (their other sessions, with the
  refresh tokens and access tokens issued in them) and keeps the one that made the
  change: whoever knew the old password may be holding one of those logins;
- deleting the account forgets the user, their sessions and refresh tokens; access
  tokens still in flight carry a session id that no longer exists, so our endpoints
  refuse them at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from idp.bridge import Bridge
from idp.clock import Clock, rfc3339, to_datetime
from idp.credentials import PasswordCheck
from idp.emails import normalise
from idp.api.bearer import invalid_token
from idp.errors import ApiError
from idp.oauth.service import TokenService
from idp.passwords import hash_password
from idp.schemas import ProfileChange, Registration
from idp.store.users import EmailTaken, UserStore
from idp.throttling import SlowDown, Throttle


def slow_down(exc: SlowDown) -> ApiError:
    return ApiError(429, "slow_down", "Too many attempts; try again later.",
                    headers={"Retry-After": str(exc.retry_after)})


def email_taken() -> ApiError:
    return ApiError(409, "email_taken", "An account with this e-mail address exists.")


def wrong_password() -> ApiError:
    return ApiError(403, "invalid_current_password", "The current password is wrong.")


def public_view(user: dict[str, Any]) -> dict[str, str]:
    """The user as the API shows it: never a hash, never an internal field."""
    return {
        "id": user["_id"],
        "name": user["name"],
        "email": user["email"],
        "created_at": rfc3339(user["created_at"]),
        "updated_at": rfc3339(user["updated_at"]),
    }


class Accounts:
    def __init__(
        self,
        users: UserStore,
        tokens: TokenService,
        throttle: Throttle,
        password_check: PasswordCheck,
        bridge: Bridge,
        clock: Clock,
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._throttle = throttle
        self._password_check = password_check
        self._bridge = bridge
        self._clock = clock

    async def register(self, form: Registration, client_ip: str) -> dict[str, Any]:
        try:
            await self._throttle.count_registration(client_ip)
        except SlowDown as exc:
            raise slow_down(exc) from None
        now = to_datetime(self._clock())
        user = {
            "_id": str(uuid.uuid4()),
            "name": form.name,
            "email": form.email,
            "email_key": normalise(form.email)[1],
            "password_hash": await self._bridge.run_sync(hash_password, form.password),
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self._users.create(user)
        except EmailTaken:
            raise email_taken() from None
        return user

    async def get(self, user_id: str) -> dict[str, Any]:
        user = await self._users.by_id(user_id)
        if user is None:
            raise invalid_token()
        return user

    async def change(self, user_id: str, sid: str | None, form: ProfileChange, client_ip: str) -> dict[str, Any]:
        user = await self.get(user_id)
        if form.current_password is not None:
            await self._confirm_password(user, form.current_password, client_ip)
        changes: dict[str, Any] = {}
        if form.name is not None:
            changes["name"] = form.name
        if form.email is not None:
            changes["email"], changes["email_key"] = normalise(form.email)
        if form.password is not None:
            changes["password_hash"] = await self._bridge.run_sync(hash_password, form.password)
        try:
            updated = await self._users.update(user_id, changes, to_datetime(self._clock()))
        except EmailTaken:
            raise email_taken() from None
        if updated is None:
            raise invalid_token()
        if form.password is not None:
            await self._tokens.end_other_sessions(user_id, keep_sid=sid)
        return updated

    async def delete(self, user_id: str, current_password: str, client_ip: str) -> None:
        user = await self.get(user_id)
        await self._confirm_password(user, current_password, client_ip)
        await self._users.delete(user_id)
        await self._tokens.forget_user(user_id)

    async def _confirm_password(self, user: dict[str, Any], password: str, client_ip: str) -> None:
        """Throttled like a login, since a stolen access token must not become an oracle."""
        try:
            confirmed = await self._bridge.run_sync(
                self._password_check, user["email_key"], password, client_ip
            )
        except SlowDown as exc:
            raise slow_down(exc) from None
        if confirmed is None or confirmed["_id"] != user["_id"]:
            raise wrong_password()
