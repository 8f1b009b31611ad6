"""The grants, on Authlib's classes. Each reaches the lifecycles (idp.logins) through
the server's hooks, and stores what it issued in its own `save_token`."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, grants

from idp.ops.audit import audit
from idp.oauth.authlib.errors import WRONG_CREDENTIALS
from idp.oauth.authlib.models import AuthenticatedUser, CodeRecord, RefreshTokenRecord
from idp.oauth.authlib.scopes import NarrowingRefresh
from idp.oauth.clients import Client
from idp.oauth.protocol import AUTH_METHODS

__all__ = ["WRONG_CREDENTIALS", "AuthorizationCodeGrant", "ClientCredentialsGrant", "PasswordGrant",
           "RefreshTokenGrant"]


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def authenticate_user(self, username: str, password: str) -> AuthenticatedUser:
        """The same invalid_grant for an unknown e-mail and a wrong password (Authlib's
        default would be invalid_request); with IDP_REQUIRE_VERIFIED_EMAIL, another for
        an address not confirmed, told only to whoever knows the password."""
        user: AuthenticatedUser | None = self.server.check_password(username, password, self.request.client_ip)
        if user is None:
            raise InvalidGrantError(WRONG_CREDENTIALS)
        self.server.require_verified_email(user)  # after the right password only
        return user

    def save_token(self, token: dict[str, Any]) -> None:
        """Start the login: raises invalid_grant when the password changed meanwhile."""
        user: AuthenticatedUser = self.request.user
        self.server.start_login(user, self.request.client.client_id, token["scope"], token["refresh_token"])
        audit("login.succeeded", user_id=user.user_id, sid=user.sid)


class RefreshTokenGrant(NarrowingRefresh, grants.RefreshTokenGrant):
    """Rotation with reuse detection (RFC 9700 §4.14.2), owned by idp.logins.refresh:
    presenting the token decides live / reused / unknown, and storing the successor is
    one compare-and-set of the login."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshTokenRecord:
        record: RefreshTokenRecord = self.server.present_refresh_token(refresh_token, self.request.client)
        return record

    def authenticate_user(self, refresh_token: RefreshTokenRecord) -> AuthenticatedUser:
        """The login's user, without a round trip: a login outlives no password change,
        lock or deletion (they end it), so a live login's user is current."""
        return AuthenticatedUser(refresh_token.login.user_id, refresh_token.sid)

    def save_token(self, token: dict[str, Any]) -> None:
        self.server.rotate_refresh_token(self.request.refresh_token, token["refresh_token"])

    def revoke_old_credential(self, refresh_token: RefreshTokenRecord) -> None:
        """Nothing to do: storing the successor used the token up (save_token)."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    # `none` is listed so that a public client hears unauthorized_client, not invalid_client
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def save_token(self, token: dict[str, Any]) -> None:
        """Nothing is stored: the token is a signed JWT, revoked one by one if need be."""


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """Authlib's grant (with CodeChallenge and OpenIDCode registered beside it); the
    code's lifecycle is idp.logins.codes. Codes are issued by idp.http.authorize."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def query_authorization_code(self, code: str, client: Client) -> CodeRecord:
        verifier = self.request.form.get("code_verifier") or None
        record: CodeRecord = self.server.present_code(code if isinstance(code, str) else "", client, verifier)
        sent = self.request.payload.redirect_uri
        if record.get_redirect_uri() is None and sent is not None and sent != client.get_default_redirect_uri():
            # omitted in the authorization request, the client's one URI was used
            raise InvalidGrantError("The redirect_uri differs from the one the code was issued for.")
        return record

    def authenticate_user(self, authorization_code: CodeRecord) -> AuthenticatedUser:
        user: AuthenticatedUser = self.server.redeem_code(authorization_code)
        return user

    def save_token(self, token: dict[str, Any]) -> None:
        user: AuthenticatedUser = self.request.user
        assert user.redemption is not None, "a code's user comes from redeem_code"
        self.server.start_code_login(user, token.get("refresh_token"))

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        """Nothing to do: the redemption marked the code used (it is kept to catch replays)."""

