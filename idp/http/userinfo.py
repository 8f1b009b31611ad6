"""OIDC Core §5.3 userinfo: the claims the access token's scope allows."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from idp.accounts.service import UserGone
from idp.http.context import services
from idp.http.errors import ApiError, invalid_token, no_token
from idp.oauth.oidc import userinfo_claims
from idp.oauth.protocol import OPENID_SCOPE

bp = Blueprint("userinfo", __name__)


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
async def userinfo() -> Response:
    """For a token with `openid` and a user: `sub`, and what `profile` and `email` allow."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise no_token()
    svc = services()
    claims = await svc.access.live_claims(token.strip())
    if claims is None:
        raise invalid_token()
    scope = str(claims.get("scope", ""))
    if OPENID_SCOPE not in scope.split() or "sid" not in claims:
        raise ApiError(403, "insufficient_scope", "The access token needs the 'openid' scope and a user.",
                       headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'})
    try:
        user = await svc.accounts.get(claims["sub"])
    except UserGone:
        raise invalid_token() from None
    response = jsonify(userinfo_claims(user, scope))
    response.headers["Cache-Control"] = "no-store"
    return response
