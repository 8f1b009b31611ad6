"""RFC 6750 Bearer authentication for our own resource endpoints (/users/me)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import current_app, request

from idp.http.context import services
from idp.http.errors import ApiError
from idp.oauth.protocol import ACCOUNT_SCOPE



@dataclass(frozen=True)
class Caller:
    """Who is calling: the user, and the login (session) their token belongs to."""

    user_id: str
    sid: str | None
    claims: dict[str, Any]


def no_token() -> ApiError:
    # §3.1: a request with no authentication information gets no error code
    return ApiError(401, "unauthorized", "A Bearer access token is required.",
                    headers={"WWW-Authenticate": "Bearer"})


def invalid_token() -> ApiError:
    return ApiError(401, "invalid_token", "The access token is invalid, expired or revoked.",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def insufficient_scope() -> ApiError:
    return ApiError(403, "insufficient_scope",
                    f"The access token needs the '{ACCOUNT_SCOPE}' scope and a user.",
                    headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})


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
