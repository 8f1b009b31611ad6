"""Account recovery and verified e-mail: password-reset links and verification links.

A link carries a token `<id>.<secret>` (idp.store.recovery_tokens): 128 random bits of
id, 256 of secret, the secret stored only as a hash and compared in constant time.

Password reset. Asking for a link answers the same for a known and an unknown address,
in the same time: the request does the same work in both cases (counts the IP and the
address, stores one outbox job); the sender, off the request's path, looks the address
up and, for an account, makes the link and the message. A reset link works once, for
IDP_RESET_TTL, and only while it is the newest link of its address (the credentials
remember the newest) and the password is the one it was made under (the credentials
stamp). Completing it sets the password (every login ends), marks the address verified
(the person just proved they read it), and sends a notice without a link.

Verification. Registration and every change of address queue a verification job; the
link works once, for IDP_VERIFY_TTL, and only for the address it was sent to.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from idp.accounts.emails import normalise
from idp.accounts.service import Accounts
from idp.accounts.throttling import SlowDown, Throttle
from idp.clock import Clock, to_datetime
from idp.mail.mail import Mail
from idp.ops.audit import audit
from idp.settings import Settings
from idp.store.outbox import Message
from idp.store.recovery_tokens import RESET, VERIFY, RecoveryToken, RecoveryTokenStore
from idp.store.users import Credentials, User, UserStore

RESET_PATH = "/account/reset"
VERIFY_PATH = "/account/verify"
RESET_JOB, VERIFY_JOB, VERIFY_ADDRESS_JOB = "password_reset", "verify_email", "verify_address"
RESETS_PER_WINDOW = 5
_TOKEN = re.compile(r"([0-9a-f]{32})\.([A-Za-z0-9_-]{43})")


class InvalidToken(Exception):
    """The link is unknown, used, expired, replaced by a newer one, or no longer applies."""


class EmailNotVerified(Exception):
    """IDP_REQUIRE_VERIFIED_EMAIL is on and this account's address is not confirmed."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Links:
    """Making, reading and using recovery tokens."""

    def __init__(self, store: RecoveryTokenStore, issuer: str, clock: Clock) -> None:
        self._store = store
        self._issuer = issuer
        self._clock = clock

    def now(self) -> datetime:
        return to_datetime(self._clock())

    async def make(self, kind: str, user_id: str, email_key: str, ttl: int, stamp: str | None = None) -> tuple[str, str]:
        """A new token, stored; returns (its id, the link that carries it)."""
        token_id, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
        await self._store.add(RecoveryToken(token_id, kind, user_id, email_key, _hash(secret),
                                            self.now() + timedelta(seconds=ttl), stamp))
        path = RESET_PATH if kind == RESET else VERIFY_PATH
        return token_id, f"{self._issuer}{path}?token={token_id}.{secret}"

    async def find(self, token: object, kind: str) -> RecoveryToken:
        """The live token of this kind that `token` names and proves; InvalidToken otherwise."""
        match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            raise InvalidToken()
        record = await self._store.get(match[1])
        if (record is None or record.kind != kind or record.expires_at <= self.now()
                or not hmac.compare_digest(record.secret_hash, _hash(match[2]))):
            raise InvalidToken()
        return record

    async def use(self, record: RecoveryToken) -> None:
        """Use the token up; InvalidToken for every caller but the first."""
        if not await self._store.use(record):
            raise InvalidToken()


class Verification:
    def __init__(self, users: UserStore, links: Links, mail: Mail, throttle: Throttle, settings: Settings) -> None:
        self._users = users
        self._links = links
        self._mail = mail
        self._throttle = throttle
        self._settings = settings
        if mail.sender is not None:
            mail.sender.prepare_with(VERIFY_JOB, self._prepare)
            mail.sender.prepare_with(VERIFY_ADDRESS_JOB, self._prepare_for_address)

    async def queue(self, user: User, *, even_if_verified: bool = False) -> None:
        """A verification message to the user's current address (made by the sender)."""
        await self._mail.send_job(VERIFY_JOB, user_id=user.user_id, email_key=user.email_key,
                                  even_if_verified=even_if_verified)

    async def resend(self, user: User) -> None:
        """POST /users/me/email-verification: at most one per minute; raises SlowDown."""
        wait = await self._throttle.space_messages("verify-mail", user.user_id)
        if wait:
            raise SlowDown(wait)
        await self.queue(user, even_if_verified=True)

    async def resend_to_address(self, email: str, client_ip: str) -> None:
        """From the login page, without a session: the same answer whether the address has
        an account or not; an unverified account gets a new message (at most one a minute)."""
        await self._throttle.count_recovery_request(client_ip)
        email_key = normalise(email)[1]
        if not await self._throttle.space_messages("verify-mail-address", email_key, per_window=RESETS_PER_WINDOW):
            await self._mail.send_job(VERIFY_ADDRESS_JOB, email_key=email_key)

    async def email_changed(self, before: User, after: User) -> None:
        """A link to the new address, a notice (no link) to the old one."""
        await self.queue(after)
        await self._mail.send("email_changed", before.email, new_email=after.email)

    async def complete(self, token: str) -> User:
        """Raises InvalidToken."""
        record = await self._links.find(token, VERIFY)
        await self._links.use(record)
        marked = await self._users.mark_verified(record.user_id, record.email_key, self._links.now())
        if marked is None:  # the address changed since the link was sent
            raise InvalidToken()
        user, newly = marked
        if newly:
            audit("email.verified", user_id=user.user_id, via="link")
        return user

    async def mark(self, user: User, by: str) -> User:
        """Verified without a link (an administrator, a completed reset)."""
        marked = await self._users.mark_verified(user.user_id, user.email_key, self._links.now())
        if marked is None:
            return user
        verified, newly = marked
        if newly:
            audit("email.verified", user_id=user.user_id, via=by)
        return verified

    async def may_sign_in(self, user_id: str) -> bool:
        """False when IDP_REQUIRE_VERIFIED_EMAIL is on and the address is not confirmed
        (called after the right password only; costs a read only when the setting is on)."""
        if not self._settings.require_verified_email:
            return True
        user = await self._users.by_id(user_id)
        return user is not None and user.email_verified

    async def require_verified(self, user_id: str) -> None:
        """may_sign_in as a domain outcome: raises EmailNotVerified."""
        if not await self.may_sign_in(user_id):
            raise EmailNotVerified()

    async def _prepare(self, job: dict[str, Any]) -> Message | None:
        user = await self._users.by_id(str(job.get("user_id")))
        if user is None or user.email_key != job.get("email_key"):
            return None  # gone, or another address since: that one has its own message
        if user.email_verified and not job.get("even_if_verified"):
            return None
        return await self._message(user)

    async def _prepare_for_address(self, job: dict[str, Any]) -> Message | None:
        credentials = await self._users.credentials(str(job.get("email_key")))
        user = await self._users.by_id(credentials.user_id) if credentials else None
        if user is None or user.email_verified or user.email_key != job.get("email_key"):
            return None
        return await self._message(user)

    async def _message(self, user: User) -> Message:
        ttl = self._settings.verify_ttl
        _, link = await self._links.make(VERIFY, user.user_id, user.email_key, ttl)
        return self._mail.render("verify_email", user.email, link=link, hours=max(1, round(ttl / 3600)))


class PasswordReset:
    def __init__(self, accounts: Accounts, users: UserStore, links: Links, mail: Mail, throttle: Throttle,
                 verification: Verification, settings: Settings) -> None:
        self._accounts = accounts
        self._users = users
        self._links = links
        self._mail = mail
        self._throttle = throttle
        self._verification = verification
        self._settings = settings
        if mail.sender is not None:
            mail.sender.prepare_with(RESET_JOB, self._prepare)

    async def request(self, email: str, client_ip: str) -> None:
        """POST /users/password-reset: the same work for any address. Raises SlowDown past
        the IP's limit; past the address's limits, it quietly sends nothing."""
        await self._throttle.count_recovery_request(client_ip)
        email_key = normalise(email)[1]
        if not await self._throttle.space_messages("reset-mail", email_key, per_window=RESETS_PER_WINDOW):
            await self._mail.send_job(RESET_JOB, email_key=email_key, client_ip=client_ip)

    async def link_for(self, credentials: Credentials, **audit_fields: str | None) -> str:
        """A new reset link for this account; every earlier one stops working."""
        token_id, link = await self._links.make(RESET, credentials.user_id, credentials.email_key,
                                                self._settings.reset_ttl, credentials.stamp)
        await self._users.set_credentials(credentials.email_key, {"reset_id": token_id})
        audit("password.reset.requested", user_id=credentials.user_id, **audit_fields)
        return link

    async def check(self, token: str) -> tuple[RecoveryToken, Credentials]:
        """The reset token and the credentials it may change; InvalidToken otherwise.
        Changes nothing (the link's GET shows the form only when this passes)."""
        record = await self._links.find(token, RESET)
        credentials = await self._users.credentials(record.email_key)
        if (credentials is None or credentials.user_id != record.user_id or credentials.locked
                or credentials.stamp != record.stamp or credentials.reset_id != record.token_id):
            raise InvalidToken()
        return record, credentials

    async def complete(self, token: str, password: str) -> None:
        """Use the link (once), set the password (every login ends), confirm the address,
        and send a notice. Raises InvalidToken."""
        record, credentials = await self.check(token)
        await self._links.use(record)
        await self._accounts.set_password(credentials, password, event="password.reset")
        # the person just proved they read this address
        marked = await self._users.mark_verified(record.user_id, record.email_key, self._links.now())
        if marked is not None:
            user, newly = marked
            if newly:
                audit("email.verified", user_id=user.user_id, via="password_reset")
            await self._mail.send("password_changed", user.email)

    async def _prepare(self, job: dict[str, Any]) -> Message | None:
        credentials = await self._users.credentials(str(job.get("email_key")))
        if credentials is None or credentials.locked:
            return None
        user = await self._users.by_id(credentials.user_id)
        if user is None:
            return None
        link = await self.link_for(credentials, client_ip=job.get("client_ip"))
        ttl = self._settings.reset_ttl
        return self._mail.render("password_reset", user.email, link=link, minutes=max(1, round(ttl / 60)))
