"""Access tokens (RFC 9068 JWTs) and refresh tokens (opaque, 256 random bits)."""

from __future__ import annotations

import secrets
from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc import jwt
from joserfc.errors import JoseError

from idp.clock import Clock
from idp.keys import ALGORITHM, KeyRing
from idp.oauth.models import AuthenticatedUser, Client
from idp.oauth.scopes import not_registered

ACCESS_TOKEN_TYPE = "at+jwt"
MAX_TOKEN_LENGTH = 8192
_REQUIRED_CLAIMS = ("iss", "sub", "aud", "client_id", "iat", "exp", "jti")


def new_refresh_token(**_: Any) -> str:
    return secrets.token_urlsafe(32)


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """Authlib's RFC 9068 generator, signing with the ring's active key only, and telling
    time by the app's clock: the one AccessTokenDecoder checks `exp` against."""

    def __init__(self, issuer: str, audience: str, ttl: int, keyring: KeyRing, clock: Clock) -> None:
        super().__init__(
            issuer=issuer,
            alg=ALGORITHM,
            refresh_token_generator=new_refresh_token,
            expires_generator=ttl,
        )
        self._audience = audience
        self._keyring = keyring
        self._clock = clock

    def generate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Authlib leaves `scope` out when it is empty; our token responses always carry it."""
        token = super().generate(*args, **kwargs)
        token.setdefault("scope", "")
        return token

    def get_allowed_scope(self, client: Client, scope: str | None) -> str:
        """Authlib's check, with an invalid_scope that names the scopes not allowed."""
        allowed = client.get_allowed_scope(scope)
        if allowed is None:
            raise not_registered(client.client_id, scope or "", client.scope)
        return allowed

    def get_jwks(self) -> Any:
        return self._keyring.signing_keys()

    def get_audiences(self, client: Client, user: Any, scope: str) -> str:
        return self._audience

    def get_jti(self, client: Client, grant_type: str, user: Any, scope: str) -> str:
        return secrets.token_urlsafe(16)

    def get_extra_claims(self, client: Client, grant_type: str, user: Any, scope: str) -> dict[str, Any]:
        """`sid` ties a user's token to its login, so that ending the login ends the token.

        `iat` and `exp` replace Authlib's, which it takes from time.time(): extra claims
        are the one hook it applies after its own and before signing."""
        now = int(self._clock())
        claims: dict[str, Any] = {"iat": now, "exp": now + self._get_expires_in(client, grant_type)}
        if isinstance(user, AuthenticatedUser):
            claims["sid"] = user.sid
        return claims


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
