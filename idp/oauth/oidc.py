"""OpenID Connect: the userinfo claims and reading an id_token_hint back (OIDC Core 1.0
§5.3; RP-Initiated Logout 1.0 §2). ID tokens are made by Authlib's OpenIDCode extension
(idp.oauth.authlib.tokens)."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from idp.ops.keys import ALGORITHM, KeyRing
from idp.oauth.tokens import MAX_TOKEN_LENGTH
from idp.store.users import User

ID_TOKEN_TYPE = "JWT"


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
