"""Discovery (RFC 8414) and the public keys (RFC 7517), answered from prepared bytes.

The metadata depends only on the settings and the clients read at start, so it is
serialised once per app; the JWK Set is serialised again only when the key ring's
version (the published kids) changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from quart import Blueprint, Quart, Response, current_app, jsonify

from idp.http.context import services
from idp.http.openapi import document
from idp.http.prepared import Prepared
from idp.ops.keys import ALGORITHM, JWKS_MAX_AGE, KeyRing
from idp.oauth.protocol import AUTH_METHODS, CONFIDENTIAL_METHODS, GRANT_TYPES

bp = Blueprint("wellknown", __name__)

# public documents: any web page may read them, so single-page apps can discover the server
_PUBLIC = (("Access-Control-Allow-Origin", "*"),)


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
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "amr", "nonce", "sid", "at_hash",
                             "azp", "name", "email", "email_verified"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


class PublicDocuments:
    """One app's discovery documents and JWK Set, as prepared answers (idp.http.prepared)."""

    def __init__(self, issuer: str, scopes: list[str], keyring: KeyRing) -> None:
        self.metadata = Prepared(_dumps(metadata(issuer, scopes)), _PUBLIC)
        self.openid_configuration = Prepared(_dumps(openid_configuration(issuer, scopes)), _PUBLIC)
        self._keyring = keyring
        self._jwks = Prepared(b"")
        self._jwks_version: tuple[str, ...] | None = None

    def jwks(self) -> Prepared:
        """The JWK Set, serialised again only when the published keys change."""
        version = self._keyring.version
        if version != self._jwks_version:
            # the ring may change between the two reads: then the next request rebuilds
            self._jwks = Prepared(_dumps(self._keyring.jwks()),
                                  (*_PUBLIC, ("Cache-Control", f"public, max-age={JWKS_MAX_AGE}")))
            self._jwks_version = version
        return self._jwks

    def answers(self) -> dict[str, Callable[[], Prepared]]:
        """Path -> answer, for the prepared-answer middleware and the routes alike."""
        return {
            "/.well-known/oauth-authorization-server": lambda: self.metadata,
            "/.well-known/openid-configuration": lambda: self.openid_configuration,
            "/.well-known/jwks.json": self.jwks,
        }


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


_EXTENSION = "idp.documents"


def install(app: Quart, issuer: str, scopes: list[str], keyring: KeyRing) -> PublicDocuments:
    documents = PublicDocuments(issuer, scopes, keyring)
    app.extensions[_EXTENSION] = documents
    return documents


def _answer(path: str) -> Response:
    documents: PublicDocuments = current_app.extensions[_EXTENSION]
    prepared = documents.answers()[path]()
    return Response(prepared.body, content_type="application/json", headers=dict(prepared.headers))


@bp.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata() -> Response:
    return _answer("/.well-known/oauth-authorization-server")


@bp.get("/.well-known/openid-configuration")
async def openid_configuration_document() -> Response:
    return _answer("/.well-known/openid-configuration")


@bp.get("/.well-known/jwks.json")
async def jwks() -> Response:
    return _answer("/.well-known/jwks.json")


@bp.get("/openapi.json")
async def openapi() -> Response:
    settings = services().settings
    return jsonify(document(settings.issuer, settings.registration_open))
