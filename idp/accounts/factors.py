"""Authenticator apps (TOTP, RFC 6238) and recovery codes.

- An app is enrolled in two steps: a new random key is stored sealed but not yet on;
  the first correct code switches it on and yields 10 recovery codes, shown once.
- A code is SHA-1, 6 digits, 30 s steps, accepted one step either side of now. The
  last accepted step is remembered per account and a code is accepted only by moving it
  forward (one conditional update), so a code, once accepted, is refused again —
  including when two requests carry it at once.
- Recovery codes are random, stored as SHA-256, each used once, renewable as a set.

Errors are domain errors; the HTTP layer maps them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp

from idp.accounts.sealing import Sealer, Unsealable
from idp.clock import Clock, to_datetime
from idp.ops import metrics
from idp.ops.audit import audit
from idp.store.factors import FactorRecord, FactorStore

DIGITS = 6
PERIOD = 30
SKEW_STEPS = 1
RECOVERY_CODES = 10
KEY_BYTES = 20  # 160 bits, RFC 4226 §4's recommendation for HMAC-SHA-1


class FactorError(Exception):
    """A change of second factors that cannot be done."""


class WrongCode(FactorError):
    """The code is wrong, expired, or was accepted before."""


class SecondFactorRequired(FactorError):
    """A password alone cannot sign in to this account (the password grant)."""


class NothingPending(FactorError):
    """No authenticator key awaits its first code (or one is already on)."""


@dataclass(frozen=True)
class Enrolment:
    """A key awaiting its first code: shown as text and as the otpauth URI of the QR code."""

    secret: str  # base32
    uri: str


def _context(user_id: str) -> str:
    return f"totp:{user_id}"


def normalise_code(code: str) -> str:
    """What a person typed, without spaces and hyphens, in lower case."""
    return "".join(ch for ch in code if ch not in " -\t").lower()


def recovery_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def new_recovery_codes() -> list[str]:
    """10 codes of 50 random bits each, as `xxxxx-xxxxx` in lower-case base32."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = base64.b32encode(secrets.token_bytes(7)).decode().lower()[:10]
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


class Factors:
    def __init__(self, store: FactorStore, sealer: Sealer, clock: Clock, issuer_name: str) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock
        self._issuer_name = issuer_name

    async def status(self, user_id: str) -> FactorRecord:
        return await self._store.get(user_id) or FactorRecord(user_id)

    async def required(self, user_id: str) -> bool:
        """Whether a password alone is not enough to sign in to this account."""
        return (await self.status(user_id)).second_factor

    async def refuse_password_alone(self, user_id: str) -> None:
        """For the password grant, after the right password: raises SecondFactorRequired
        when the account has an authenticator app or a passkey."""
        if await self.required(user_id):
            raise SecondFactorRequired()

    # -- enrolment ---------------------------------------------------------------------------

    async def begin_totp(self, user_id: str, account_name: str) -> Enrolment:
        """A new key awaiting its first code (replacing one that was pending); raises
        NothingPending when an app is already on (switch it off first)."""
        secret = base64.b32encode(secrets.token_bytes(KEY_BYTES)).decode()
        sealed = self._sealer.seal(secret.encode(), _context(user_id))
        if not await self._store.set_pending_totp(user_id, sealed, to_datetime(self._clock())):
            raise NothingPending()
        return self._enrolment(secret, account_name)

    async def pending_totp(self, user_id: str, account_name: str) -> Enrolment | None:
        """The key awaiting its first code, to show again (a reload of the page)."""
        record = await self._store.get(user_id)
        if record is None or record.totp is None or record.totp.confirmed:
            return None
        secret = self._open(user_id, record.totp.sealed)
        return self._enrolment(secret, account_name) if secret else None

    async def confirm_totp(self, user_id: str, code: str) -> list[str]:
        """Switch the pending key on with its first code; the recovery codes, shown once."""
        record = await self._store.get(user_id)
        if record is None or record.totp is None or record.totp.confirmed:
            raise NothingPending()
        step = self._matching_step(self._open(user_id, record.totp.sealed), code)
        if step is None:
            raise WrongCode()
        codes = new_recovery_codes()
        if not await self._store.confirm_totp(user_id, record.totp.sealed, step, [recovery_hash(c) for c in codes]):
            raise NothingPending()  # replaced or confirmed by another request meanwhile
        audit("mfa.enabled", user_id=user_id, factor="totp")
        metrics.FACTOR_CHANGES.labels("totp", "enabled").inc()
        return codes

    async def disable_totp(self, user_id: str) -> bool:
        removed = await self._store.remove_totp(user_id)
        if removed:
            audit("mfa.disabled", user_id=user_id, factor="totp")
            metrics.FACTOR_CHANGES.labels("totp", "disabled").inc()
        return removed

    async def renew_recovery_codes(self, user_id: str) -> list[str]:
        """A new set of recovery codes; the old ones stop working. Raises NothingPending
        when no app is on (the codes come with it)."""
        codes = new_recovery_codes()
        if not await self._store.set_recovery(user_id, [recovery_hash(c) for c in codes]):
            raise NothingPending()
        audit("recovery_codes.renewed", user_id=user_id)
        return codes

    # -- the second step ---------------------------------------------------------------------

    async def verify_totp(self, user_id: str, code: str) -> bool:
        """True once for a right code: the same code (or an older one) is refused after."""
        record = await self._store.get(user_id)
        if record is None or not record.totp_on or record.totp is None:
            return False
        step = self._matching_step(self._open(user_id, record.totp.sealed), code)
        return step is not None and await self._store.accept_step(user_id, step)

    async def use_recovery_code(self, user_id: str, code: str) -> bool:
        """True once per recovery code."""
        if not normalise_code(code):
            return False
        used = await self._store.use_recovery(user_id, recovery_hash(code))
        if used:
            audit("recovery_code.used", user_id=user_id)
        return used

    async def remove_all(self, user_id: str) -> FactorRecord | None:
        """Every factor and passkey gone (an operator, for a lost phone; account deletion)."""
        removed = await self._store.remove_all(user_id)
        if removed is not None and removed.totp_on:
            audit("mfa.disabled", user_id=user_id, factor="totp")
            metrics.FACTOR_CHANGES.labels("totp", "disabled").inc()
        for passkey in removed.passkeys if removed else ():
            audit("passkey.removed", user_id=user_id, passkey=passkey.cid)
            metrics.FACTOR_CHANGES.labels("passkey", "removed").inc()
        return removed

    # -- recovery codes on their way to the page that shows them once --------------------------

    def seal_for_display(self, codes: list[str], binding: str) -> str:
        """The codes sealed for a short-lived cookie: nothing of them is stored in the database."""
        return self._sealer.seal(" ".join(codes).encode(), f"show:{binding}")

    def open_for_display(self, sealed: str, binding: str) -> list[str] | None:
        try:
            return self._sealer.open(sealed, f"show:{binding}").decode().split()
        except Unsealable:
            return None

    # -- helpers -------------------------------------------------------------------------------

    def _enrolment(self, secret: str, account_name: str) -> Enrolment:
        totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
        return Enrolment(secret, totp.provisioning_uri(name=account_name, issuer_name=self._issuer_name))

    def _open(self, user_id: str, sealed: str) -> str:
        try:
            return self._sealer.open(sealed, _context(user_id)).decode()
        except Unsealable:
            # another IDP_FACTOR_KEY than the one that sealed it: no code can match
            return ""

    def _matching_step(self, secret: str, code: str) -> int | None:
        """The time step (within one of now) whose code this is, compared in constant time."""
        code = normalise_code(code)
        if not secret or len(code) != DIGITS or not code.isdigit():
            return None
        totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
        now_step = int(self._clock()) // PERIOD
        found = None
        for step in range(now_step - SKEW_STEPS, now_step + SKEW_STEPS + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                found = step
        return found
