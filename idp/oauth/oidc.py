"""OpenID Connect on top of the code grant: ID tokens, the userinfo claims, and reading an
id_token_hint back (OIDC Core 1.0 §2, §3.1.3.6, §5.3; RP-Initiated Logout 1.0 §2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import JoseError

from idp.clock import Clock
from idp.ops.keys import ALGORITHM, KeyRing
from idp.oauth.tokens import MAX_TOKEN_LENGTH
from idp.store.users import User

ID_TOKEN_TYPE = "JWT"


class IdTokens(OpenIDCode):
    """Authlib's OpenIDCode extension (it adds `id_token` to a token response whose scope
    has `openid`), signing with the key ring's active key by the app's clock."""

    def __init__(self, issuer: str, ttl: int, keyring: KeyRing, clock: Clock,
                 profile: Callable[[str, str], dict[str, Any]] | None = None) -> None:
        super().__init__(require_nonce=False)
        self._profile = profile  # (user id, scope) -> claims about the person
        self._issuer = issuer
        self._ttl = ttl
        self._keyring = keyring
        self._clock = clock

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        """Codes are single use, so a nonce cannot come back through one (and the
        authorization endpoint is ours, not Authlib's)."""
        return False

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        code = request.authorization_code
        client_id = request.client.client_id
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self._issuer, "sub": request.user.user_id, "aud": client_id, "azp": client_id,
            "iat": now, "exp": now + self._ttl, "auth_time": code.get_auth_time(),
            # the login the code started: the one the access and refresh tokens belong to
            "sid": request.user.sid,
            "at_hash": create_half_hash(token["access_token"], ALGORITHM).decode(),
        }
        if code.get_nonce():
            claims["nonce"] = code.get_nonce()
        if self._profile is not None:
            claims.update(self._profile(request.user.user_id, str(token.get("scope", ""))))
        header = {"alg": ALGORITHM, "typ": ID_TOKEN_TYPE}
        return jwt.encode(header, claims, self._keyring.signing_keys(), algorithms=[ALGORITHM])


def read_id_token_hint(token: object, issuer: str, keyring: KeyRing) -> dict[str, Any] | None:
    """The claims of an ID token this server signed (expired or not: RP-Initiated Logout
    §2 lets a hint be expired), or None. An access token is not an ID token."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        return None
    try:
        decoded = jwt.decode(token, keyring.verification_keys(), algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError, KeyError):
        return None
    claims = decoded.claims
    if (decoded.header.get("typ") != ID_TOKEN_TYPE or claims.get("iss") != issuer
            or not isinstance(claims.get("aud"), str) or not isinstance(claims.get("sub"), str)):
        return None
    return claims


def userinfo_claims(user: User, scope: str) -> dict[str, Any]:
    """OIDC Core §5.4: `sub`, `name` with profile, `email` and `email_verified` with email."""
    scopes = scope.split()
    claims: dict[str, Any] = {"sub": user.user_id}
    if "profile" in scopes:
        claims["name"] = user.name
    if "email" in scopes:
        claims.update(email_claims(user))
    return claims


def email_claims(user: User) -> dict[str, Any]:
    """The same `email_verified` in userinfo and ID tokens as in /users/me."""
    return {"email": user.email, "email_verified": user.email_verified}
