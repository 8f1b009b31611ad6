"""Administration from the shell: find, add, lock, unlock, log out and delete accounts,
and list the clients the database knows. `idp users ...` and `idp clients list` (idp.cli)
parse and print; the rules live here.

Every refusal is an AdminRefusal whose message is one line an operator can act on.

Locking sets the `locked` flag of the credentials (PasswordCheck then answers as for a
wrong password, so a lock is not an oracle) and changes the credentials stamp and the
stamp of the user's list of logins, then ends every login: a login whose password check
passed before the lock ends itself when it enrols (idp.logins.logins.Logins.start), and
refresh stops with the logins.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idp.accounts.factors import Factors
from idp.accounts.service import Accounts
from idp.ops.audit import audit
from idp.clock import Clock, rfc3339, system_clock, to_datetime
from idp.accounts.emails import InvalidEmail, normalise
from idp.accounts.forms import InvalidForm, NewPasswordOnly, Registration, validate
from idp.accounts.recovery import PasswordReset, Verification
from idp.store.clients import ClientStore
from idp.store.factors import FactorRecord
from idp.store.logins import LoginStore
from idp.store.users import Credentials, EmailTaken, User, UserStore, new_stamp

MAX_PAGE = 1000


class AdminRefusal(Exception):
    """What was asked cannot be done; the message says why, in one line."""


@dataclass(frozen=True)
class Account:
    """A user as an administrator sees it: the profile, the lock, and (for `show`) the live logins."""

    user: User
    locked: bool
    sessions: int | None = None

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": self.user.user_id, "name": self.user.name, "email": self.user.email,
            "email_verified": self.user.email_verified, "locked": self.locked,
            "created_at": rfc3339(self.user.created_at), "updated_at": rfc3339(self.user.updated_at),
        }
        if self.sessions is not None:
            view["sessions"] = self.sessions
        return view


@dataclass(frozen=True)
class Page:
    accounts: list[Account]
    next_after: str | None  # pass as `after` for the next page; None on the last one


class Admin:
    def __init__(self, accounts: Accounts, users: UserStore, logins: LoginStore, clients: ClientStore,
                 clock: Clock = system_clock, factors: Factors | None = None) -> None:
        self._factors = factors
        self._accounts = accounts
        self._users = users
        self._logins = logins
        self._clients = clients
        self._clock = clock

    # -- finding ---------------------------------------------------------------------

    async def list(self, email_prefix: str = "", after: str | None = None, limit: int = 50) -> Page:
        """Accounts in e-mail order, those whose e-mail starts with email_prefix (any case)."""
        if not 1 <= limit <= MAX_PAGE:
            raise AdminRefusal(f"the page size must be between 1 and {MAX_PAGE}")
        found = await self._users.list_credentials(email_prefix.casefold(),
                                                   after.casefold() if after else None, limit + 1)
        page, more = found[:limit], len(found) > limit
        users = await self._users.by_ids([credentials.user_id for credentials in page])
        # credentials without a profile are a registration cut short: nothing to show
        accounts = [Account(users[c.user_id], c.locked) for c in page if c.user_id in users]
        return Page(accounts, page[-1].email_key if more else None)

    async def show(self, ref: str) -> Account:
        user, credentials = await self._find(ref)
        return Account(user, credentials.locked, await self._logins.count_of(user.user_id, self._now()))

    async def _find(self, ref: str) -> tuple[User, Credentials]:
        """The user named by an id or an e-mail address (one with an @)."""
        if "@" in ref:
            try:
                email_key = normalise(ref)[1]
            except InvalidEmail as exc:
                raise AdminRefusal(f"{ref!r} is not a valid e-mail address: {exc}") from None
            credentials = await self._users.credentials(email_key)
            user = await self._users.by_id(credentials.user_id) if credentials else None
        else:
            user = await self._users.by_id(ref)
            credentials = await self._users.credentials(user.email_key) if user else None
        if user is None or credentials is None or credentials.user_id != user.user_id:
            raise AdminRefusal(f"no user {ref!r}")
        return user, credentials

    # -- changing --------------------------------------------------------------------

    async def add(self, name: str, email: str, password: str, *, verified: bool = False) -> Account:
        """Registration's rules and code, without its per-IP throttle; `verified`: the
        administrator vouches for the address, and no message asks to confirm it."""
        try:
            form = validate(Registration, {"name": name, "email": email, "password": password})
        except InvalidForm as exc:
            problems = "; ".join(f"{field} {why}" for field, why in exc.fields.items())
            raise AdminRefusal(problems) from None
        try:
            user = await self._accounts.create(form, verified=verified)
        except EmailTaken:
            raise AdminRefusal(f"an account with the e-mail {form.email} exists") from None
        return Account(user, False)

    async def lock(self, ref: str) -> tuple[Account, int]:
        """Lock the account and end its logins; returns it and how many logins ended."""
        user, credentials = await self._find(ref)
        stamp = new_stamp()
        await self._users.set_credentials(credentials.email_key, {"locked": True, "stamp": stamp})
        await self._logins.restamp(user.user_id, stamp, keep_sid=None)
        ended = await self._logins.end_all_of(user.user_id)
        audit("account.locked", user_id=user.user_id, by="administrator")
        return Account(user, True), ended

    async def unlock(self, ref: str) -> Account:
        user, credentials = await self._find(ref)
        await self._users.set_credentials(credentials.email_key, {"locked": False})
        return Account(user, False)

    async def logout(self, ref: str) -> tuple[Account, int]:
        """End every login of the user; returns it and how many ended."""
        user, credentials = await self._find(ref)
        ended = await self._logins.end_all_of(user.user_id)
        audit("logout", user_id=user.user_id, ended="every_login", by="administrator")
        return Account(user, credentials.locked), ended

    async def set_password(self, ref: str, password: str) -> tuple[Account, int]:
        """Set the password (the rules of every new password) and end every login;
        returns the account and how many logins ended."""
        try:
            form = validate(NewPasswordOnly, {"password": password})
        except InvalidForm as exc:
            raise AdminRefusal(f"password {exc.fields.get('password', 'is not acceptable')}") from None
        user, credentials = await self._find(ref)
        ended = await self._logins.count_of(user.user_id, self._now())
        await self._accounts.set_password(credentials, form.password, by="administrator")
        return Account(user, credentials.locked), ended

    async def reset_link(self, ref: str, reset: PasswordReset) -> tuple[Account, str]:
        """A one-time reset link, as the message would carry it; earlier links stop working."""
        user, credentials = await self._find(ref)
        if credentials.locked:
            raise AdminRefusal(f"{user.email} is locked: unlock it first (idp users unlock)")
        return Account(user, credentials.locked), await reset.link_for(credentials, by="administrator")

    async def verify(self, ref: str, verification: Verification) -> Account:
        user, credentials = await self._find(ref)
        return Account(await verification.mark(user, by="administrator"), credentials.locked)

    async def delete(self, ref: str) -> Account:
        user, credentials = await self._find(ref)
        await self._accounts.remove(user)
        return Account(user, credentials.locked)

    async def remove_factors(self, ref: str) -> tuple[Account, FactorRecord | None]:
        """Remove the authenticator app, recovery codes and passkeys of a person who lost
        them (a lost phone): a password alone signs them in again, until they add new ones.
        Their logins stay. Returns the account and what was removed (None: nothing)."""
        if self._factors is None:
            raise AdminRefusal("second factors are not available in this command")
        user, credentials = await self._find(ref)
        return Account(user, credentials.locked), await self._factors.remove_all(user.user_id)

    # -- clients ---------------------------------------------------------------------

    async def clients(self) -> builtins.list[dict[str, Any]]:
        """Every client the database has seen, with whether the clients file still has it."""
        return [_client_view(doc) for doc in await self._clients.all()]

    def _now(self) -> datetime:
        return to_datetime(self._clock())


def _client_view(doc: dict[str, Any]) -> dict[str, Any]:
    removed_at = doc.get("removed_at")
    return {
        "client_id": doc["_id"],
        "token_endpoint_auth_method": doc["token_endpoint_auth_method"],
        "grant_types": doc["grant_types"],
        "scope": doc["scope"],
        "in_file": doc.get("in_file", True),
        "removed_at": rfc3339(removed_at) if removed_at and not doc.get("in_file", True) else None,
    }
