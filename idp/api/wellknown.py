"""Discovery (RFC 8414) and the public keys (RFC 7517)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app, jsonify

from idp.oauth.models import AUTH_METHODS, CONFIDENTIAL_METHODS
from idp.openapi import document

bp = Blueprint("wellknown", __name__)

JWKS_MAX_AGE = 300
GRANT_TYPES = ["password", "refresh_token", "client_credentials"]


def metadata(issuer: str, scopes: list[str]) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "registration_endpoint": f"{issuer}/users",
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_METHODS),
        "scopes_supported": scopes,
        # no authorization endpoint: no response type is supported
        "response_types_supported": [],
        "service_documentation": f"{issuer}/openapi.json",
    }


@bp.get("/.well-known/oauth-authorization-server")
@bp.get("/.well-known/openid-configuration")
async def authorization_server_metadata() -> Response:
    services = current_app.extensions["idp"]
    return jsonify(metadata(services.settings.issuer, services.scopes_supported))


@bp.get("/.well-known/jwks.json")
async def jwks() -> Response:
    response = jsonify(current_app.extensions["idp"].keyring.jwks())
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response


@bp.get("/openapi.json")
async def openapi() -> Response:
    return jsonify(document(current_app.extensions["idp"].settings.issuer))
