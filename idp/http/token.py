"""The token, revocation and introspection endpoints: Authlib does the protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from quart import Blueprint, Response, jsonify, request

from idp.http.context import services
from idp.http.forms import client_ip, read_form
from idp.oauth.authlib.requests import OAuthRequest
from idp.oauth.authlib.server import Response as AuthlibResponse

bp = Blueprint("oauth", __name__)


async def _respond(endpoint: Callable[[OAuthRequest], Awaitable[AuthlibResponse]]) -> Response:
    """Read the form on the loop, let Authlib answer (in its thread), reply."""
    oauth_request = OAuthRequest(
        f"{services().settings.issuer}{request.path}", request.headers, await read_form(), client_ip()
    )
    status, body, headers = await endpoint(oauth_request)
    response = jsonify(body)
    response.status_code = status
    for name, value in headers:
        response.headers[name] = value
    return response


@bp.post("/oauth/token")
async def token() -> Response:
    return await _respond(services().oauth.token)


@bp.post("/oauth/revoke")
async def revoke() -> Response:
    return await _respond(services().oauth.revocation)


@bp.post("/oauth/introspect")
async def introspect() -> Response:
    return await _respond(services().oauth.introspection)
