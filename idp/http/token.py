"""The token, revocation and introspection endpoints: Authlib does the protocol."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from quart import Blueprint, Response, current_app, jsonify, request

from idp.http.context import services
from idp.http.forms import client_ip, read_form
from idp.oauth.authlib.requests import OAuthRequest
from idp.oauth.authlib.server import OAuthServer
from idp.oauth.authlib.server import Response as AuthlibResponse

bp = Blueprint("oauth", __name__)


def _server() -> OAuthServer:
    return services().oauth


async def _respond(handle: Callable[[OAuthRequest], AuthlibResponse]) -> Response:
    """Read the form on the loop, run Authlib's handler in the worker pool, reply."""
    svc = services()
    oauth_request = OAuthRequest(
        f"{svc.settings.issuer}{request.path}", request.headers, await read_form(), client_ip()
    )
    status, body, headers = await svc.bridge.run_sync(handle, oauth_request)
    response = jsonify(body)
    response.status_code = status
    for name, value in headers:
        response.headers[name] = value
    return response


@bp.post("/oauth/token")
async def token() -> Response:
    return await _respond(_server().create_token_response)


@bp.post("/oauth/revoke")
async def revoke() -> Response:
    return await _respond(partial(_server().create_endpoint_response, "revocation"))


@bp.post("/oauth/introspect")
async def introspect() -> Response:
    return await _respond(partial(_server().create_endpoint_response, "introspection"))
