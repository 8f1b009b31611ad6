"""The OpenAPI 3.1 document of the whole HTTP surface, built from the pydantic models
that validate the request bodies (idp.schemas), so the two cannot drift apart."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

from idp.accounts import forms
from idp.http import schemas

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _body(model: type[BaseModel], media: str = JSON) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": _ref(model)}}}


def _json(description: str, schema: dict[str, Any] | type[BaseModel] | None = None,
          headers: dict[str, Any] | None = None) -> dict[str, Any]:
    if isinstance(schema, type):
        schema = _ref(schema)
    answer: dict[str, Any] = {"description": description,
                              "content": {JSON: {"schema": schema or {"type": "object"}}}}
    if headers:
        answer["headers"] = headers
    return answer


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "Invalid request (RFC 6749 §5.2 or a field error)",
        401: "Missing or failed authentication",
        403: "Forbidden (insufficient scope, or wrong current password)",
        409: "The e-mail address is taken",
        413: "The body is larger than IDP_MAX_BODY_BYTES",
        429: "Too many attempts (slow_down); see Retry-After",
    }
    answers = {str(s): _json(texts[s], schemas.ErrorBody) for s in statuses}
    if 429 in statuses:
        answers["429"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return answers


_USER_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]
_CLIENT_AUTH: list[dict[str, list[str]]] = [{"basic": []}, {}]


def _registration(registration_open: bool, user: dict[str, Any]) -> dict[str, Any]:
    """POST /users as this server answers it: closed, it only ever says so."""
    if not registration_open:
        return {"summary": "Register: closed on this server (accounts are made by its administrator)",
                "responses": {"403": _json("registration_closed", schemas.ErrorBody)}}
    return {
        "summary": "Register",
        "requestBody": _body(forms.Registration),
        "responses": {"201": {**user, "headers": {"Location": {"schema": {"type": "string"}}}},
                      **_errors(400, 409, 413, 429)},
    }


def _paths(registration_open: bool) -> dict[str, Any]:
    user = _json("The user", schemas.User)
    metadata = {"get": {"summary": "RFC 8414 authorization server metadata",
                        "responses": {"200": _json("The metadata")}}}
    return {
        "/.well-known/oauth-authorization-server": metadata,
        "/.well-known/openid-configuration": {"get": {
            "summary": "OpenID Connect Discovery 1.0 provider metadata",
            "responses": {"200": _json("The provider metadata")}}},
        "/.well-known/jwks.json": {"get": {"summary": "The public signing keys (RFC 7517)",
                                           "responses": {"200": _json("The JWK Set")}}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json("Running")}}},
        "/readyz": {"get": {"summary": "Readiness: database and signing key",
                            "responses": {"200": _json("Ready"), "503": _json("Not ready")}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json("OpenAPI 3.1")}}},
        "/oauth/token": {"post": {
            "summary": "Token endpoint (RFC 6749): authorization_code (with PKCE), password, refresh_token, client_credentials",
            "security": _CLIENT_AUTH,
            "requestBody": _body(schemas.TokenForm, FORM),
            "responses": {"200": _json("Tokens", schemas.TokenResponse), **_errors(400, 401, 413, 429)},
        }},
        "/oauth/revoke": {"post": {
            "summary": "Revocation (RFC 7009): logout",
            "security": _CLIENT_AUTH,
            "requestBody": _body(schemas.TokenForm7009, FORM),
            "responses": {"200": _json("Revoked, or nothing to revoke"), **_errors(400, 401, 413)},
        }},
        "/oauth/introspect": {"post": {
            "summary": "Introspection (RFC 7662), for confidential clients",
            "security": _CLIENT_AUTH,
            "requestBody": _body(schemas.TokenForm7009, FORM),
            "responses": {"200": _json("Token state", schemas.Introspection), **_errors(400, 401, 413)},
        }},
        "/oauth/userinfo": {
            method: {"summary": "OpenID Connect userinfo (OIDC Core §5.3), for a token with the openid scope",
                     "security": _USER_AUTH,
                     "responses": {"200": _json("The claims the token's scope allows"),
                                   **_errors(401, 403, *((413,) if method == "post" else ()))}}
            for method in ("get", "post")
        },
        "/users": {"post": _registration(registration_open, user)},
        "/users/me": {
            "get": {"summary": "Read one's account", "security": _USER_AUTH,
                    "responses": {"200": user, **_errors(401, 403)}},
            "patch": {"summary": "Change name, e-mail or password", "security": _USER_AUTH,
                      "requestBody": _body(forms.ProfileChange),
                      "responses": {"200": user, **_errors(400, 401, 403, 409, 413, 429)}},
            "delete": {"summary": "Delete one's account", "security": _USER_AUTH,
                       "requestBody": _body(forms.Deletion),
                       "responses": {"204": {"description": "Deleted"}, **_errors(400, 401, 403, 413, 429)}},
        },
        **_recovery_paths(),
    }


def _recovery_paths() -> dict[str, Any]:
    accepted = _json("Accepted: a message goes out if it should (the answer is the same either way)")
    done = {"description": "Done"}
    return {
        "/users/password-reset": {"post": {
            "summary": "Ask for a password-reset link by e-mail (202 for any address)",
            "requestBody": _body(forms.ResetRequest),
            "responses": {"202": accepted, **_errors(400, 413, 429)}}},
        "/users/password-reset/complete": {"post": {
            "summary": "Set a new password with a reset link's token; every login ends",
            "requestBody": _body(forms.ResetCompletion),
            "responses": {"204": done, **_errors(400, 413)}}},
        "/users/email-verification/complete": {"post": {
            "summary": "Confirm an e-mail address with a verification link's token",
            "requestBody": _body(forms.VerificationCompletion),
            "responses": {"204": done, **_errors(400, 413)}}},
        "/users/me/email-verification": {"post": {
            "summary": "Send a new verification message to one's address (one a minute)",
            "security": _USER_AUTH,
            "responses": {"202": accepted, **_errors(401, 403, 429)}}},
    }


@cache
def document(issuer: str, registration_open: bool = True) -> dict[str, Any]:
    models = (forms.Registration, forms.ProfileChange, forms.Deletion, forms.ResetRequest, forms.ResetCompletion,
              forms.VerificationCompletion, schemas.User,
              schemas.ErrorBody, schemas.TokenForm, schemas.TokenResponse, schemas.TokenForm7009,
              schemas.Introspection)
    return {
        "openapi": "3.1.0",
        "info": {"title": "idp", "version": "0.1.0",
                 "description": "A self-hosted OAuth2 identity provider. Every error is JSON."},
        "servers": [{"url": issuer}],
        "paths": _paths(registration_open),
        "components": {
            "schemas": {m.__name__: m.model_json_schema(ref_template="#/components/schemas/{model}")
                        for m in models},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }
