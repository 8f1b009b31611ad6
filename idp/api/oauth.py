"""The token, revocation and introspection endpoints: Authlib does the protocol."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app, jsonify, request

from idp.api.requests import client_ip, read_form
from idp.oauth.requests import OAuthRequest

bp = Blueprint("oauth", __name__)


async def _authlib(call: str, *args: Any) -> Response:
    """Run one Authlib entry point in the worker pool with the request's form."""
    services = current_app.extensions["idp"]
    oauth_request = OAuthRequest(
        f"{services.settings.issuer}{request.path}", request.headers, await read_form(), client_ip()
    )
    method = getattr(services.oauth, call)
    status, body, headers = await services.bridge.run_sync(method, *args, oauth_request)
    response = jsonify(body)
    response.status_code = status
    for name, value in headers:
        response.headers[name] = value
    return response


@bp.post("/oauth/token")
async def token() -> Response:
    return await _authlib("create_token_response")


@bp.post("/oauth/revoke")
async def revoke() -> Response:
    return await _authlib("create_endpoint_response", "revocation")


@bp.post("/oauth/introspect")
async def introspect() -> Response:
    return await _authlib("create_endpoint_response", "introspection")
