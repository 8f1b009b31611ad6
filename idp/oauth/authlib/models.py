"""The objects Authlib's hooks hand around: the user of a grant, and the token and code
records Authlib's endpoints and grants call methods on (TokenMixin's)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import TokenMixin

from idp.logins.access import AccessToken
from idp.logins.codes import Redemption
from idp.oauth.clients import Client
from idp.store.records import Login, StoredCode


@dataclass(frozen=True)
class AuthenticatedUser:
    """A user as the token generator sees it: who, and which login (sid) this is.

    `stamp` is the credentials stamp the password was checked against (None when the
    user comes from a refresh token): a login stored after the stamp changed ends itself.
    """

    user_id: str
    sid: str
    stamp: str | None = None
    redemption: Redemption | None = None  # set when the user comes from a code

    def get_user_id(self) -> str:
        return self.user_id


@dataclass(frozen=True)
class AccessTokenRecord(TokenMixin):
    token: AccessToken

    @property
    def claims(self) -> dict[str, Any]:
        return self.token.claims

    @property
    def client_id(self) -> str:
        return self.token.client_id

    def check_client(self, client: Client) -> bool:
        return hmac.compare_digest(self.token.client_id, client.client_id)

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def is_expired(self) -> bool:
        return bool(self.claims["exp"] <= self.token.now)

    def is_revoked(self) -> bool:
        return not self.token.live

    def introspection(self) -> dict[str, Any]:
        fields = ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti")
        return {"active": True, "token_type": "Bearer",
                **{k: self.claims[k] for k in fields if k in self.claims}}


@dataclass(frozen=True)
class RefreshTokenRecord(TokenMixin):
    """A refresh token: its login, and whether it is current (False: rotated away, or
    a retry within the grace period when presented to the grant)."""

    login: Login
    current: bool
    now: datetime
    issuer: str
    presented: str = ""  # the token itself, for the grant's rotation

    @property
    def sid(self) -> str:
        return self.login.sid

    @property
    def client_id(self) -> str:
        return self.login.client_id

    def check_client(self, client: Client) -> bool:
        return hmac.compare_digest(self.login.client_id, client.client_id)

    def get_scope(self) -> str:
        return self.login.scope

    def is_expired(self) -> bool:
        return self.login.expires_at <= self.now

    def is_revoked(self) -> bool:
        return not self.current

    def introspection(self) -> dict[str, Any]:
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": self.login.scope,
            "client_id": self.login.client_id,
            "sub": self.login.user_id,
            "exp": int(self.login.expires_at.timestamp()),
            "iat": int(self.login.issued_at.timestamp()),
            "iss": self.issuer,
        }


TokenRecord = AccessTokenRecord | RefreshTokenRecord


@dataclass(frozen=True)
class CodeRecord:
    """A stored code as Authlib's AuthorizationCodeGrant, CodeChallenge and OpenIDCode see it."""

    stored: StoredCode

    @property
    def client_id(self) -> str:
        return self.stored.client_id

    @property
    def code_challenge(self) -> str:
        return self.stored.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return "S256"  # the only method the authorization endpoint accepts

    def get_redirect_uri(self) -> str | None:
        return self.stored.redirect_uri

    def get_scope(self) -> str:
        return self.stored.scope

    def get_nonce(self) -> str | None:
        return self.stored.nonce

    def get_auth_time(self) -> int:
        return self.stored.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str] | None:
        return list(self.stored.amr) or None
