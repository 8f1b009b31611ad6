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

from idp.http.context import services
from idp.ops.keys import ALGORITHM, JWKS_MAX_AGE
from idp.http.openapi import document
from idp.oauth.protocol import AUTH_METHODS, CONFIDENTIAL_METHODS, GRANT_TYPES

bp = Blueprint("wellknown", __name__)

# public documents: any web page may read them, so single-page apps can discover the server
PUBLIC_HEADERS = {"Access-Control-Allow-Origin": "*"}
_EXTENSION = "idp.wellknown"


def metadata(issuer: str, scopes: list[str]) -> dict[str, Any]:
    """RFC 8414 metadata. No registration_endpoint: that names RFC 7591 client
    registration, which this server does not offer (user sign-up is POST /users)."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_METHODS),
        "scopes_supported": scopes,
        "service_documentation": f"{issuer}/openapi.json",
    }


def openid_configuration(issuer: str, scopes: list[str]) -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 §3: the RFC 8414 members plus every REQUIRED one, and
    explicit answers where the spec's defaults would claim support this server lacks
    (request_uri_parameter_supported defaults to true)."""
    return {
        **metadata(issuer, scopes),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash",
                             "azp", "name", "email", "email_verified"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


@dataclass
class _Prepared:
    """One app's serialised answers."""

    metadata: bytes
    openid_configuration: bytes
    jwks: bytes = b""
    jwks_version: tuple[str, ...] | None = None


def _prepared() -> _Prepared:
    prepared: _Prepared | None = current_app.extensions.get(_EXTENSION)
    if prepared is None:
        svc = services()
        issuer, scopes = svc.settings.issuer, svc.scopes_supported
        prepared = _Prepared(_dumps(metadata(issuer, scopes)), _dumps(openid_configuration(issuer, scopes)))
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
async def openid_configuration_document() -> Response:
    return _json(_prepared().openid_configuration)


@bp.get("/.well-known/jwks.json")
async def jwks() -> Response:
    prepared = _prepared()
    keyring = services().keyring
    version = keyring.version
    if version != prepared.jwks_version:
        # the ring may change between the two reads: then the next request rebuilds
        prepared.jwks, prepared.jwks_version = _dumps(keyring.jwks()), version
    return _json(prepared.jwks, **{"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"})


@bp.get("/openapi.json")
async def openapi() -> Response:
    settings = services().settings
    return jsonify(document(settings.issuer, settings.registration_open))
