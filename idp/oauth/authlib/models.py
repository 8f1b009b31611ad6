"""The objects Authlib's hooks hand around: clients, users, and token records."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin

from idp.store.logins import Session


def secret_hash(secret: str) -> str:
    """SHA-256 is enough for secrets that are long and random (client secrets, refresh tokens)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Client(ClientMixin):
    client_id: str
    auth_method: str
    grant_types: tuple[str, ...]
    scope: str
    secret_hash: str | None = field(default=None, repr=False)
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    first_party: bool = False

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Client:
        return cls(
            client_id=doc["_id"],
            auth_method=doc["token_endpoint_auth_method"],
            grant_types=tuple(doc["grant_types"]),
            scope=doc["scope"],
            secret_hash=doc.get("secret_hash"),
            # documents seeded before browser sign-in existed lack these members
            redirect_uris=tuple(doc.get("redirect_uris", ())),
            post_logout_redirect_uris=tuple(doc.get("post_logout_redirect_uris", ())),
            first_party=doc.get("first_party", False),
        )

    @property
    def confidential(self) -> bool:
        return self.auth_method != "none"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """RFC 6749 §3.1.2.3: redirect_uri may be omitted only when exactly one is registered."""
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The registered scope when none is asked for; None (invalid_scope) when asked for more."""
        if not scope:
            return self.scope
        if set(scope.split()) <= set(self.scope.split()):
            return scope
        return None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string comparison with a registered URI (RFC 6749 §3.1.2, RFC 9700 §2.1):
        no prefix, case or normalisation games, so nothing but the registered URI gets a code."""
        return redirect_uri in self.redirect_uris

    def check_post_logout_redirect_uri(self, uri: str) -> bool:
        """The same exact comparison for OIDC RP-Initiated Logout's post_logout_redirect_uri."""
        return uri in self.post_logout_redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(secret_hash(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials" and not self.confidential:
            return False
        return grant_type in self.grant_types


@dataclass(frozen=True)
class AuthenticatedUser:
    """A user as the token generator sees it: who, and which login (session) this is.

    `stamp` is the credentials stamp the password was checked against (None when the
    user comes from a refresh token): a login stored after the stamp changed ends itself.
    """

    user_id: str
    sid: str
    stamp: str | None = None

    def get_user_id(self) -> str:
        return self.user_id


@dataclass(frozen=True)
class AccessTokenRecord(TokenMixin):
    claims: dict[str, Any]
    revoked: bool
    now: float

    def check_client(self, client: Client) -> bool:
        return hmac.compare_digest(self.claims["client_id"], client.client_id)

    def get_scope(self) -> str:
        return self.claims.get("scope", "")

    def is_expired(self) -> bool:
        return self.claims["exp"] <= self.now

    def is_revoked(self) -> bool:
        return self.revoked

    def introspection(self) -> dict[str, Any]:
        fields = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti")
        return {"active": True, "token_type": "Bearer",
                **{k: self.claims[k] for k in fields if k in self.claims}}


@dataclass(frozen=True)
class RefreshTokenRecord(TokenMixin):
    """A presented refresh token, found through its login; `used` if rotated away."""

    session: Session
    used: bool
    now: datetime
    issuer: str

    @property
    def sid(self) -> str:
        return self.session.sid

    def check_client(self, client: Client) -> bool:
        return hmac.compare_digest(self.session.client_id, client.client_id)

    def get_scope(self) -> str:
        return self.session.scope

    def is_expired(self) -> bool:
        return self.session.expires_at <= self.now

    def is_revoked(self) -> bool:
        return self.used

    def introspection(self) -> dict[str, Any]:
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": self.session.scope,
            "client_id": self.session.client_id,
            "sub": self.session.user_id,
            "exp": int(self.session.expires_at.timestamp()),
            "iat": int(self.session.issued_at.timestamp()),
            "iss": self.issuer,
        }
