"""RFC 6750 Bearer authentication for our own resource endpoints (/users/me)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import request

from idp.http.context import services
from idp.http.errors import insufficient_scope, invalid_token, no_token
from idp.oauth.protocol import ACCOUNT_SCOPE

@dataclass(frozen=True)
class Caller:
    """Who is calling: the user, and the login (session) their token belongs to."""

    user_id: str
    sid: str | None
    claims: dict[str, Any]


async def require_account_caller() -> Caller:
    """The caller of an account endpoint, or the RFC 6750 error that stops the request."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise no_token()
    claims = await services().access.live_claims(token.strip())
    if claims is None:
        raise invalid_token()
    if ACCOUNT_SCOPE not in str(claims.get("scope", "")).split() or "sid" not in claims:
        raise insufficient_scope()
    return Caller(claims["sub"], claims["sid"], claims)
