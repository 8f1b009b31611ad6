"""What the services below HTTP need from storage, and what each store guarantees.

Each Protocol is satisfied by a MongoDB store in this package and by the in-memory fakes
of the unit tests. The docstrings state the atomicity each method promises: the
services are written against these promises, not against a particular server. Every
single-document update is atomic (MongoDB applies it to the document as one step), so a
compare-and-set is one conditional update whose filter states what must still hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from idp.store.records import BrowserSession, Enrolment, Login, StoredCode


class LoginStorage(Protocol):
    """Logins (refresh families) and browser sessions, one document each by `_id`."""

    async def create(self, login: Login) -> None:
        """Store a new login; its sid is new, so the insert does not collide."""

    async def get(self, sid: str, now: datetime) -> Login | None:
        """The login if it has not ended and is not past its purge time (never a browser session)."""

    async def rotate(self, login: Login, new_secret_hash: str, now: datetime, *, retriable: bool) -> bool:
        """Make new_secret_hash the login's current secret, if the login is still exactly
        at `login.generation` with `login.secret_hash` as its current secret.

        One conditional update of one document: the new hash, the used hashes (the
        current one appended) and `rotated_at` (now if the secret rotated away may be
        retried within a grace period, else None) are written together or not at all. Of
        concurrent calls for one generation exactly one returns True; an ended login
        returns False. There is no state between two steps for a fault to leave behind.
        """

    async def end(self, sid: str) -> bool:
        """End one login or browser session; True if it was live."""

    async def end_many(self, sids: list[str]) -> None:
        """End several logins in one command."""

    async def end_all_of(self, user_id: str, keep_sid: str | None = None) -> int:
        """End every login of a user but keep_sid; how many ended."""

    async def of_user(self, user_id: str, now: datetime, limit: int = 500) -> list[Login | BrowserSession]:
        """The live logins and browser sessions of a user, newest first."""

    async def enrol(self, user_id: str, sid: str, limit: int) -> Enrolment:
        """Append sid to the user's list and read back the credentials stamp in the same
        atomic update: a password change that completed before it is seen."""

    async def revoke_access_token(self, sid: str | None, jti: str, expires_at: datetime) -> None:
        """Refuse one access token from now on (on its login, or on its own)."""

    async def access_token_revoked(self, jti: str) -> bool:
        """For access tokens that belong to no login (client credentials)."""

    async def create_browser(self, session: BrowserSession) -> None:
        """Store a new browser session (a login of the browser, ended like any other)."""

    async def get_browser(self, sid: str, now: datetime) -> BrowserSession | None:
        """The browser session if it is live (never an app's login)."""

    async def note_started(self, browser_sid: str, sid: str) -> bool:
        """Record a login started by one of the browser session's codes; False if the
        browser session has ended (one atomic `$addToSet`)."""

    async def hand_over_started(self, from_sid: str, to_sid: str) -> None:
        """Give the logins one browser session started to another, then end the first."""

    async def end_browser_session(self, browser_sid: str) -> None:
        """End a browser session and the logins its codes started."""


class CodeStorage(Protocol):
    """Authorization codes by the hash of the code."""

    async def create(self, code: StoredCode) -> None:
        """Store a new code."""

    async def get(self, code_hash: str, now: datetime) -> StoredCode | None:
        """The code, used or not, until it is purged; an unused one only until it expires."""

    async def claim(self, code_hash: str, sid: str, now: datetime) -> bool:
        """Mark an unused, unexpired code as used by the login `sid`: one conditional
        update, so of concurrent claims exactly one returns True."""

    async def mark_replayed(self, code_hash: str) -> None:
        """Note that a used code came back (one atomic `$set`)."""

    async def was_replayed(self, code_hash: str) -> bool:
        """Whether mark_replayed ran for this code."""


class ConsentStorage(Protocol):
    """Which scopes each user granted each client."""

    async def granted(self, user_id: str, client_id: str) -> frozenset[str]:
        """The scopes granted (empty when none)."""

    async def grant(self, user_id: str, client_id: str, scopes: list[str], now: datetime) -> None:
        """Add scopes (one atomic upsert with `$addToSet`: concurrent grants both count)."""

    async def of_user(self, user_id: str) -> dict[str, tuple[frozenset[str], datetime]]:
        """Every consent of a user: client id → (scopes, when last granted)."""

    async def revoke(self, user_id: str, client_id: str) -> bool:
        """Forget one consent; True if there was one."""

    async def forget_user(self, user_id: str) -> int:
        """Remove every consent of a user (the account is gone); how many."""

    async def forget_client(self, client_id: str) -> int:
        """Remove every consent given to a client (it left the clients file); how many."""
