"""Access tokens (RFC 9068 JWTs) and refresh tokens (opaque: `<sid>.<256 random bits>`).

A refresh token carries the id of its login beside its secret, so that the server finds
the login by `_id`; only a hash of the secret is stored. To a client the token stays an
opaque string.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc import jwt
from joserfc.errors import JoseError

from idp.clock import Clock
from idp.ops.keys import ALGORITHM, KeyRing
from idp.oauth.authlib.models import AuthenticatedUser, Client
from idp.oauth.authlib.scopes import not_registered

ACCESS_TOKEN_TYPE = "at+jwt"
MAX_TOKEN_LENGTH = 8192
_REQUIRED_CLAIMS = ("iss", "sub", "aud", "client_id", "iat", "exp", "jti")


_REFRESH_TOKEN = re.compile(r"([0-9a-f]{32})\.([A-Za-z0-9_-]{43})")


def new_session_id() -> str:
    return secrets.token_hex(16)


def new_refresh_token(user: AuthenticatedUser, **_: Any) -> str:
    return f"{user.sid}.{secrets.token_urlsafe(32)}"


def split_refresh_token(token: object) -> tuple[str, str] | None:
    """(sid, secret) of a token of our shape; None for anything else."""
    match = _REFRESH_TOKEN.fullmatch(token) if isinstance(token, str) else None
    return (match[1], match[2]) if match else None


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
