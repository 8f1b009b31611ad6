"""Passkeys (WebAuthn Level 2) with py_webauthn: registration, and sign-in with them.

- Credentials are discoverable (the authenticator keeps the account, so signing in
  needs no e-mail) and user verification is required (a PIN or biometric, so a passkey
  alone is two factors: `hwk` and `user`). Algorithms: ES256, EdDSA, RS256.
- The relying party id is the issuer's host and the expected origin the issuer's
  origin; an issuer whose host is an IP address cannot have passkeys (WebAuthn refuses
  IP addresses as RP ids), so they are off.
- Each ceremony's challenge is stored server-side under an unguessable id, bound to who
  asked (a `binding` the caller chooses: the browser session, or the pending sign-in),
  lives CHALLENGE_TTL and is deleted as it is read: a response is accepted once.
- The signature counter, when the authenticator keeps one, must grow; a counter that
  does not is refused and audited (a cloned authenticator, or a replay).
- The user handle is the user id, so a discoverable sign-in finds its account by `_id`.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options, generate_registration_options, options_to_json,
    verify_authentication_response, verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse, InvalidJSONStructure, InvalidRegistrationResponse, WebAuthnException,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria, PublicKeyCredentialDescriptor, ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.clock import Clock, to_datetime
from idp.ops import metrics
from idp.ops.audit import audit
from idp.store.factors import Challenge, FactorStore, StoredPasskey

ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
CHALLENGE_TTL = timedelta(minutes=5)
TIMEOUT_MS = 120_000
NAME_MAX = 100
REGISTER, AUTHENTICATE = "register", "authenticate"


class PasskeyRefused(Exception):
    """A passkey response that is not accepted; `reason` is for logs, never for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PasskeysOff(PasskeyRefused):
    def __init__(self) -> None:
        super().__init__("passkeys are off: the issuer's host is an IP address")


@dataclass(frozen=True)
class Ceremony:
    """What the browser needs to start: the challenge's id and the options as JSON."""

    challenge_id: str
    options_json: str


@dataclass(frozen=True)
class PasskeySignIn:
    user_id: str
    user_verified: bool
    cid: str


def relying_party(issuer: str) -> tuple[str, str] | None:
    """(RP id, origin) for an issuer, or None when its host is an IP address."""
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host, f"{parts.scheme}://{parts.netloc}"
    return None


class Passkeys:
    def __init__(self, store: FactorStore, issuer: str, clock: Clock, rp_name: str = "Sign-in") -> None:
        self._store = store
        self._clock = clock
        self._rp = relying_party(issuer)
        self._rp_name = rp_name

    @property
    def enabled(self) -> bool:
        return self._rp is not None

    @property
    def rp_id(self) -> str:
        return self._relying_party()[0]

    @property
    def origin(self) -> str:
        return self._relying_party()[1]

    # -- registration ------------------------------------------------------------------------

    async def registration_options(self, user_id: str, email: str, name: str, binding: str) -> Ceremony:
        existing = await self._store.get(user_id)
        options = generate_registration_options(
            rp_id=self.rp_id, rp_name=self._rp_name, user_id=user_id.encode(), user_name=email,
            user_display_name=name, timeout=TIMEOUT_MS,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED, require_resident_key=True,
                user_verification=UserVerificationRequirement.REQUIRED),
            supported_pub_key_algs=ALGORITHMS,
            exclude_credentials=[PublicKeyCredentialDescriptor(id=_bytes(p.cid))
                                 for p in (existing.passkeys if existing else ())],
        )
        challenge_id = await self._store_challenge(options.challenge, REGISTER, binding, user_id)
        return Ceremony(challenge_id, options_to_json(options))

    async def register(self, user_id: str, challenge_id: str, binding: str, credential: str,
                       name: str) -> StoredPasskey:
        """Verify a new credential made for this user's challenge and keep it. Raises PasskeyRefused."""
        challenge = await self._take(challenge_id, REGISTER, binding, user_id)
        try:
            verified = verify_registration_response(
                credential=credential, expected_challenge=challenge.challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origin, require_user_verification=True,
                supported_pub_key_algs=ALGORITHMS,
            )
        except (InvalidRegistrationResponse, InvalidJSONStructure, WebAuthnException, ValueError, KeyError,
                TypeError) as exc:
            raise PasskeyRefused(f"registration not verified: {exc}") from None
        cid = _text(verified.credential_id)
        passkey = StoredPasskey(cid, verified.credential_public_key, verified.sign_count,
                                _clean_name(name), to_datetime(self._clock()))
        if not await self._store.add_passkey(user_id, passkey):
            raise PasskeyRefused("this passkey is already registered")
        audit("passkey.added", user_id=user_id, passkey=cid)
        metrics.FACTOR_CHANGES.labels("passkey", "added").inc()
        return passkey

    async def remove(self, user_id: str, cid: str) -> bool:
        removed = await self._store.remove_passkey(user_id, cid)
        if removed:
            audit("passkey.removed", user_id=user_id, passkey=cid)
            metrics.FACTOR_CHANGES.labels("passkey", "removed").inc()
        return removed

    # -- sign-in -------------------------------------------------------------------------------

    async def authentication_options(self, binding: str, user_id: str | None = None) -> Ceremony:
        """Options with no allowCredentials: the authenticator offers its own passkeys for
        this site. user_id binds the challenge to an account (the step after a password)."""
        options = generate_authentication_options(
            rp_id=self.rp_id, timeout=TIMEOUT_MS, allow_credentials=[],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        challenge_id = await self._store_challenge(options.challenge, AUTHENTICATE, binding, user_id)
        return Ceremony(challenge_id, options_to_json(options))

    async def authenticate(self, challenge_id: str, binding: str, credential: str,
                           user_id: str | None = None) -> PasskeySignIn:
        """Verify an assertion: its challenge (once), origin, RP id, user verification,
        signature and counter. user_id: the account it must belong to. Raises PasskeyRefused."""
        challenge = await self._take(challenge_id, AUTHENTICATE, binding, user_id)
        owner = _user_handle(credential)
        if owner is None or (user_id is not None and owner != user_id):
            raise PasskeyRefused("the passkey belongs to another account, or names none")
        record = await self._store.get(owner)
        cid = _credential_id(credential)
        passkey = record.passkey(cid) if record and cid else None
        if passkey is None:
            raise PasskeyRefused("unknown passkey")
        try:
            verified = verify_authentication_response(
                credential=credential, expected_challenge=challenge.challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origin, credential_public_key=passkey.public_key,
                credential_current_sign_count=0, require_user_verification=True,
            )
        except (InvalidAuthenticationResponse, InvalidJSONStructure, WebAuthnException, ValueError, KeyError,
                TypeError) as exc:
            raise PasskeyRefused(f"assertion not verified: {exc}") from None
        await self._check_counter(owner, passkey, verified.new_sign_count)
        return PasskeySignIn(owner, verified.user_verified, passkey.cid)

    async def _check_counter(self, user_id: str, passkey: StoredPasskey, new: int) -> None:
        """Checked here, after the signature, so that only a genuine assertion with a counter
        that did not grow is audited as a regression (WebAuthn L2 §6.1.1)."""
        if (new > 0 or passkey.sign_count > 0) and new <= passkey.sign_count:
            audit("passkey.counter_regressed", user_id=user_id, passkey=passkey.cid,
                  stored=passkey.sign_count, presented=new)
            raise PasskeyRefused("signature counter did not grow")
        if not await self._store.advance_counter(user_id, passkey.cid, passkey.sign_count, new,
                                                 to_datetime(self._clock())):
            raise PasskeyRefused("another sign-in with this passkey moved its counter first")

    # -- helpers ------------------------------------------------------------------------------

    def _relying_party(self) -> tuple[str, str]:
        if self._rp is None:
            raise PasskeysOff()
        return self._rp

    async def _store_challenge(self, challenge: bytes, purpose: str, binding: str, user_id: str | None) -> str:
        challenge_id = secrets.token_urlsafe(32)
        expires_at = to_datetime(self._clock()) + CHALLENGE_TTL
        await self._store.create_challenge(challenge_id, Challenge(challenge, purpose, binding, user_id, expires_at))
        return challenge_id

    async def _take(self, challenge_id: str, purpose: str, binding: str, user_id: str | None) -> Challenge:
        self._relying_party()
        if not isinstance(challenge_id, str) or not challenge_id or len(challenge_id) > 100:
            raise PasskeyRefused("no challenge")
        challenge = await self._store.take_challenge(challenge_id, to_datetime(self._clock()))
        if (challenge is None or challenge.purpose != purpose
                or not secrets.compare_digest(challenge.binding.encode(), binding.encode())
                or challenge.user_id != user_id):
            raise PasskeyRefused("unknown, used, expired or foreign challenge")
        return challenge


def _clean_name(name: str) -> str:
    name = " ".join(name.split())[:NAME_MAX]
    return name or "Passkey"


def _text(raw: bytes) -> str:
    return bytes_to_base64url(raw)


def _bytes(text: str) -> bytes:
    return base64url_to_bytes(text)


def _parsed(credential: str) -> Any:
    try:
        return parse_authentication_credential_json(credential)
    except (InvalidJSONStructure, WebAuthnException, ValueError, KeyError, TypeError):
        return None


def _user_handle(credential: str) -> str | None:
    parsed = _parsed(credential)
    handle = parsed.response.user_handle if parsed is not None else None
    if not handle:
        return None
    try:
        return bytes(handle).decode()
    except UnicodeDecodeError:
        return None


def _credential_id(credential: str) -> str | None:
    parsed = _parsed(credential)
    return _text(parsed.raw_id) if parsed is not None else None


__all__ = ["Ceremony", "PasskeyRefused", "PasskeySignIn", "Passkeys", "PasskeysOff", "relying_party"]
