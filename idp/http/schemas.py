"""The shapes of request and response bodies, for the OpenAPI document (idp.http.openapi).

The account bodies are validated by their models in idp.accounts.forms; the OAuth forms
by Authlib. These models only describe them.
"""

from __future__ import annotations

from pydantic import BaseModel


class User(BaseModel):
    """A user as the API returns it."""

    id: str
    name: str
    email: str
    email_verified: bool
    created_at: str
    updated_at: str


# -- response and form shapes, for the OpenAPI document -----------------------------------

class ErrorBody(BaseModel):
    """Every error: an RFC 6749-style code, a description, and the offending fields."""

    error: str
    error_description: str | None = None
    fields: dict[str, str] | None = None


class TokenForm(BaseModel):
    """POST /oauth/token (form-encoded). Which parameters are required depends on grant_type."""

    grant_type: str
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str | None = None
    id_token: str | None = None
    scope: str


class TokenForm7009(BaseModel):
    """POST /oauth/revoke and /oauth/introspect (form-encoded)."""

    token: str
    token_type_hint: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class Introspection(BaseModel):
    active: bool
    token_type: str | None = None
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    exp: int | None = None
    iat: int | None = None
    iss: str | None = None
    aud: str | list[str] | None = None
    jti: str | None = None
