"""Reading access tokens (RFC 9068 JWTs) back. They are made by Authlib's generator
(idp.oauth.authlib.tokens); refresh tokens are opaque handles (idp.logins.refresh)."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from idp.ops.keys import ALGORITHM, KeyRing

ACCESS_TOKEN_TYPE = "at+jwt"
MAX_TOKEN_LENGTH = 8192
_REQUIRED_CLAIMS = ("iss", "sub", "aud", "client_id", "iat", "exp", "jti")


class AccessTokenDecoder:
    """Checks what a resource server would: signature, alg, typ, iss, aud, exp."""

    def __init__(self, issuer: str, audience: str, keyring: KeyRing) -> None:
        self._issuer = issuer
        self._audience = audience
        self._keyring = keyring

    def decode(self, token: object, now: float) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token; None for anything else."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
            return None
        try:
            decoded = jwt.decode(token, self._keyring.verification_keys(), algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError, KeyError):
            return None
        header = decoded.header
        if "kid" not in header or str(header.get("typ", "")).lower() not in (
            ACCESS_TOKEN_TYPE, "application/at+jwt"
        ):
            return None
        claims = decoded.claims
        if not self._claims_valid(claims, now):
            return None
        return claims

    def _claims_valid(self, claims: dict[str, Any], now: float) -> bool:
        if any(name not in claims for name in _REQUIRED_CLAIMS):
            return False
        aud = claims["aud"]
        audiences = aud if isinstance(aud, list) else [aud]
        return (
            claims["iss"] == self._issuer
            and self._audience in audiences
            and isinstance(claims["exp"], int)
            and now < claims["exp"]
            and all(isinstance(claims[k], str) for k in ("sub", "client_id", "jti"))
        )
