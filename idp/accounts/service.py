"""The self-service rules: register, read, change and delete one's own account.

What a change ends, and why:
- a new password ends every other login of the user (their other logins, with the
  refresh tokens and access tokens issued in them) and keeps the one that made the
  change: whoever knew the old password may be holding one of those logins. It also
  changes the credentials stamp first, so that a login still being made with the old
  password ends itself (see idp.logins.logins.Logins.start);
- deleting the account closes the user's list of logins (logins in flight end
  themselves), ends every login, then forgets the credentials and the profile: a
  crash between two steps leaves nothing that can be used.

Errors are domain errors (AccountError subclasses, EmailTaken, SlowDown); `api/` maps
them to HTTP.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from idp.ops.audit import audit
from idp.clock import Clock, to_datetime
from idp.accounts.password_check import PasswordCheck
from idp.accounts.emails import normalise
from idp.accounts.factors import Factors
from idp.accounts.forms import ProfileChange, Registration
from idp.accounts.hashing import HashingPool
from idp.logins.consents import Consents
from idp.store.logins import LoginStore
from idp.store.users import Credentials, EmailTaken, User, UserStore, new_stamp
from idp.accounts.throttling import Throttle

__all__ = ["AccountError", "Accounts", "EmailTaken", "UserGone", "WrongPassword"]


class AccountError(Exception):
    """A request about an account that cannot be done."""


class UserGone(AccountError):
    """The account no longer exists (deleted while its token was still in flight)."""


class WrongPassword(AccountError):
    """The current password given to confirm a change is wrong."""


class VerificationHooks(Protocol):
    """What registration and an e-mail change ask of e-mail verification
    (idp.accounts.recovery.Verification)."""

    async def queue(self, user: User) -> None:
        """A message asking to confirm the user's current address."""

    async def email_changed(self, before: User, after: User) -> None:
        """A link to the new address, a notice to the old one."""


class Accounts:
    def __init__(
        self,
        users: UserStore,
        logins: LoginStore,
        throttle: Throttle,
        password_check: PasswordCheck,
        hashing: HashingPool,
        clock: Clock,
        consents: Consents,
        factors: Factors,
        verification: VerificationHooks | None = None,
    ) -> None:
        self._users = users
        self._logins = logins
        self._throttle = throttle
        self._password_check = password_check
        self._hashing = hashing
        self._clock = clock
        self._consents = consents
        self._factors = factors
        self._verification = verification  # None: no message asks to confirm an address

    async def register(self, form: Registration, client_ip: str) -> User:
        """Raises SlowDown past the registrations allowed per IP, EmailTaken."""
        await self._throttle.count_registration(client_ip)
        return await self.create(form)

    async def create(self, form: Registration, *, verified: bool = False) -> User:
        """A new account, unthrottled (registration throttles per IP; `idp users add`
        has no IP); unless `verified`, a message asks to confirm the address. Raises
        EmailTaken."""
        now = to_datetime(self._clock())
        email, email_key = normalise(form.email)
        user = User(str(uuid.uuid4()), form.name, email, email_key, now, now, verified)
        password_hash = await self._hashing.hash(form.password)
        credentials = Credentials(email_key, user.user_id, password_hash, new_stamp())
        await self._logins.open_list(user.user_id, credentials.stamp)
        try:
            await self._users.create(user, credentials)
        except EmailTaken:
            await self._logins.close_list(user.user_id)
            raise
        audit("account.created", user_id=user.user_id)
        if not verified and self._verification is not None:
            await self._verification.queue(user)
        return user

    async def get(self, user_id: str) -> User:
        user = await self._users.by_id(user_id)
        if user is None:
            raise UserGone()
        return user

    async def change(self, user_id: str, sid: str | None, form: ProfileChange, client_ip: str) -> User:
        """Raises UserGone, WrongPassword, SlowDown, EmailTaken."""
        user = await self.get(user_id)
        profile: dict[str, Any] = {}
        if form.name is not None:
            profile["name"] = form.name
        if form.changes_credentials:
            assert form.current_password is not None, "the blueprint requires it"
            credentials = await self._confirm_password(user, form.current_password, client_ip)
            profile.update(await self._change_credentials(credentials, sid, form))
        return await self._update_profile(user, profile)

    async def _update_profile(self, user: User, profile: dict[str, Any]) -> User:
        """Store the profile fields; a new address is sent a verification link, the old
        one a notice. Raises UserGone."""
        updated = await self._users.update_profile(user.user_id, profile, to_datetime(self._clock()))
        if updated is None:
            raise UserGone()
        if updated.email_key != user.email_key and self._verification is not None:
            await self._verification.email_changed(user, updated)
        return updated

    async def _change_credentials(self, credentials: Credentials, sid: str | None, form: ProfileChange) -> dict[str, Any]:
        """Store the new e-mail and/or password; returns the profile fields that follow."""
        password_hash, stamp = credentials.password_hash, credentials.stamp
        if form.password is not None:
            password_hash = await self._hashing.hash(form.password)
            stamp = new_stamp()
        profile: dict[str, Any] = {}
        email_key = credentials.email_key
        if form.email is not None:
            profile["email"], email_key = normalise(form.email)
            profile["email_key"] = email_key
        if email_key != credentials.email_key:
            profile["email_verified"] = False  # until the new address is confirmed
            await self._users.move_credentials(credentials, email_key, password_hash, stamp)
            audit("email.changed", user_id=credentials.user_id, sid=sid)
        elif form.password is not None:
            await self._users.set_credentials(email_key, {"password_hash": password_hash, "stamp": stamp})
        if form.password is not None:
            await self._logins.restamp(credentials.user_id, stamp, keep_sid=sid)
            await self._logins.end_all_of(credentials.user_id, keep_sid=sid)
            audit("password.changed", user_id=credentials.user_id, sid=sid)
        return profile

    async def set_password(self, credentials: Credentials, password: str, *, event: str = "password.changed",
                           **audit_fields: str) -> None:
        """Set a password already held to the rules (a reset link, an administrator) and
        end every login of the user, browser sessions included: whoever knew the old
        password may hold one. The new stamp ends logins still being made with the old
        password, and every reset link made under the old one."""
        password_hash = await self._hashing.hash(password)
        stamp = new_stamp()
        await self._users.set_credentials(credentials.email_key, {"password_hash": password_hash, "stamp": stamp})
        await self._logins.restamp(credentials.user_id, stamp, keep_sid=None)
        await self._logins.end_all_of(credentials.user_id)
        audit(event, user_id=credentials.user_id, **audit_fields)

    async def change_confirmed(self, user_id: str, sid: str | None, form: ProfileChange) -> User:
        """A change of e-mail or password whose confirmation the caller already holds (the
        account page: a password or passkey given within the last minutes). Raises
        UserGone, EmailTaken."""
        user = await self.get(user_id)
        credentials = await self._users.credentials(user.email_key)
        if credentials is None or credentials.user_id != user_id:
            raise UserGone()
        profile: dict[str, Any] = {"name": form.name} if form.name is not None else {}
        profile.update(await self._change_credentials(credentials, sid, form))
        return await self._update_profile(user, profile)

    async def delete(self, user_id: str, current_password: str, client_ip: str) -> None:
        """Raises UserGone, WrongPassword, SlowDown."""
        user = await self.get(user_id)
        await self._confirm_password(user, current_password, client_ip)
        await self.remove(user)

    async def remove(self, user: User) -> None:
        """Delete an account whose removal is already authorised (its password, a passkey,
        or an administrator): close its list (logins in flight end themselves), end its
        logins, forget its consents and second factors, then the credentials and the
        profile."""
        await self._logins.close_list(user.user_id)
        await self._logins.end_all_of(user.user_id)
        await self._consents.forget_user(user.user_id)
        await self._factors.remove_all(user.user_id)
        await self._users.delete(user)
        audit("account.deleted", user_id=user.user_id)

    async def _confirm_password(self, user: User, password: str, client_ip: str) -> Credentials:
        """Throttled like a login, since a stolen access token must not become an oracle."""
        credentials = await self._password_check(user.email_key, password, client_ip)
        if credentials is None or credentials.user_id != user.user_id:
            raise WrongPassword()
        return credentials
