"""Authlib's token generator and OpenID Connect extension, configured for this server:
RFC 9068 access tokens and ID tokens, signed with the key ring's active key by the
app's clock."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt

from idp.clock import Clock
from idp.logins.refresh import new_refresh_token
from idp.oauth.authlib.models import AuthenticatedUser
from idp.oauth.authlib.scopes import not_registered
from idp.oauth.clients import Client
from idp.oauth.oidc import ID_TOKEN_TYPE
from idp.ops.keys import ALGORITHM, KeyRing


def _refresh_token(user: AuthenticatedUser, **_: Any) -> str:
    return new_refresh_token(user.sid)


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """Authlib's RFC 9068 generator, signing with the ring's active key only, and telling
    time by the app's clock: the one AccessTokenDecoder checks `exp` against."""

    def __init__(self, issuer: str, audience: str, ttl: int, keyring: KeyRing, clock: Clock) -> None:
        super().__init__(
            issuer=issuer,
            alg=ALGORITHM,
            refresh_token_generator=_refresh_token,
            expires_generator=ttl,
        )
        self._audience = audience
        self._keyring = keyring
        self._clock = clock

    def generate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Authlib leaves `scope` out when it is empty; our token responses always carry it."""
        token: dict[str, Any] = super().generate(*args, **kwargs)
        token.setdefault("scope", "")
        return token

    def get_allowed_scope(self, client: Client, scope: str | None) -> str:
        """Authlib's check, with an invalid_scope that names the scopes not allowed."""
        allowed = client.get_allowed_scope(scope)
        if allowed is None:
            raise not_registered(client.client_id, scope or "", client.scope)
        return allowed

    def get_jwks(self) -> Any:
        return self._keyring.signing_keys()

    def get_audiences(self, client: Client, user: Any, scope: str) -> str:
        return self._audience

    def get_jti(self, client: Client, grant_type: str, user: Any, scope: str) -> str:
        return secrets.token_urlsafe(16)

    def get_extra_claims(self, client: Client, grant_type: str, user: Any, scope: str) -> dict[str, Any]:
        """`sid` ties a user's token to its login, so that ending the login ends the token.

        `iat` and `exp` replace Authlib's, which it takes from time.time(): extra claims
        are the one hook it applies after its own and before signing."""
        now = int(self._clock())
        # _get_expires_in: the expires_generator given above, resolved as Authlib does
        claims: dict[str, Any] = {"iat": now, "exp": now + self._get_expires_in(client, grant_type)}
        if isinstance(user, AuthenticatedUser):
            claims["sid"] = user.sid
        return claims


class IdTokens(OpenIDCode):
    """Authlib's OpenIDCode extension (it adds `id_token` to a token response whose scope
    has `openid`), signing with the key ring's active key by the app's clock."""

    def __init__(self, issuer: str, ttl: int, keyring: KeyRing, clock: Clock,
                 profile: Callable[[str, str], dict[str, Any]] | None = None) -> None:
        super().__init__(require_nonce=False)
        self._profile = profile  # (user id, scope) -> claims about the person
        self._issuer = issuer
        self._ttl = ttl
        self._keyring = keyring
        self._clock = clock

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        """Codes are single use, so a nonce cannot come back through one (and the
        authorization endpoint is ours, not Authlib's)."""
        return False

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        code = request.authorization_code
        client_id = request.client.client_id
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self._issuer, "sub": request.user.user_id, "aud": client_id, "azp": client_id,
            "iat": now, "exp": now + self._ttl, "auth_time": code.get_auth_time(),
            # the login the code started: the one the access and refresh tokens belong to
            "sid": request.user.sid,
            "at_hash": create_half_hash(token["access_token"], ALGORITHM).decode(),
        }
        if code.get_nonce():
            claims["nonce"] = code.get_nonce()
        if code.get_amr():
            claims["amr"] = code.get_amr()  # RFC 8176: how the person signed in
        if self._profile is not None:
            claims.update(self._profile(request.user.user_id, str(token.get("scope", ""))))
        header = {"alg": ALGORITHM, "typ": ID_TOKEN_TYPE}
        return str(jwt.encode(header, claims, self._keyring.signing_keys(), algorithms=[ALGORITHM]))
