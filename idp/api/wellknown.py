"""Discovery (RFC 8414) and the public keys (RFC 7517), answered from prepared bytes.

The metadata depends only on the settings and the clients read at start, so it is
serialised once per app; the JWK Set is serialised again only when the key ring's
version (the published kids) changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response, current_app, jsonify

from idp.errors import ApiError
from idp.keys import JWKS_MAX_AGE
from idp.oauth.models import AUTH_METHODS, CONFIDENTIAL_METHODS
from idp.openapi import document

bp = Blueprint("wellknown", __name__)

GRANT_TYPES = ["password", "refresh_token", "client_credentials"]
# public documents: any web page may read them (CONTRACT "Browser sign-in")
PUBLIC_HEADERS = {"Access-Control-Allow-Origin": "*"}
_EXTENSION = "idp.wellknown"


def metadata(issuer: str, scopes: list[str]) -> dict[str, Any]:
    """RFC 8414 metadata. No registration_endpoint: that names RFC 7591 client
    registration, which this server does not offer (user sign-up is POST /users)."""
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_METHODS),
        "scopes_supported": scopes,
        # no authorization endpoint: no response type is supported
        "response_types_supported": [],
        "service_documentation": f"{issuer}/openapi.json",
    }


@dataclass
class _Prepared:
    """One app's serialised answers."""

    metadata: bytes
    jwks: bytes = b""
    jwks_version: tuple[str, ...] | None = None


def _prepared() -> _Prepared:
    prepared: _Prepared | None = current_app.extensions.get(_EXTENSION)
    if prepared is None:
        services = current_app.extensions["idp"]
        prepared = _Prepared(_dumps(metadata(services.settings.issuer, services.scopes_supported)))
        current_app.extensions[_EXTENSION] = prepared
    return prepared


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _json(body: bytes, **headers: str) -> Response:
    return Response(body, content_type="application/json", headers={**PUBLIC_HEADERS, **headers})


@bp.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata() -> Response:
    return _json(_prepared().metadata)


@bp.get("/.well-known/openid-configuration")
async def openid_configuration() -> Response:
    """404 until this server issues ID tokens: a document without the members OpenID
    Connect Discovery requires would be refused by strict OIDC libraries."""
    raise ApiError(404, "not_found", "This server is not an OpenID Provider (it issues no ID tokens); "
                                     "its OAuth metadata is at /.well-known/oauth-authorization-server.",
                   headers=PUBLIC_HEADERS)


@bp.get("/.well-known/jwks.json")
async def jwks() -> Response:
    prepared = _prepared()
    keyring = current_app.extensions["idp"].keyring
    version = keyring.version
    if version != prepared.jwks_version:
        # the ring may change between the two reads: then the next request rebuilds
        prepared.jwks, prepared.jwks_version = _dumps(keyring.jwks()), version
    return _json(prepared.jwks, **{"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"})


@bp.get("/openapi.json")
async def openapi() -> Response:
    settings = current_app.extensions["idp"].settings
    return jsonify(document(settings.issuer, settings.registration_open))
