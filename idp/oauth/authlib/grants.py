"""The three grants, on Authlib's classes; storage reached through the server's hooks."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidGrantError, grants

from idp.ops.audit import audit
from idp.oauth.authlib.models import AuthenticatedUser, RefreshTokenRecord
from idp.oauth.protocol import AUTH_METHODS
from idp.oauth.authlib.scopes import NarrowingRefresh

WRONG_CREDENTIALS = "The e-mail address or password is wrong."
UNVERIFIED_EMAIL = ("Confirm your e-mail address first: open the link in the message this server sent to it, "
                    "or ask for a new one.")
REUSED = "The refresh token was already used; this login has ended. Sign in again."
UNKNOWN_REFRESH_TOKEN = ("The refresh token is unknown, expired or revoked, or was issued to another client; "
                         "sign in again.")


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def authenticate_user(self, username: str, password: str) -> AuthenticatedUser:
        """The same invalid_grant for an unknown e-mail and a wrong password (Authlib's
        default would be invalid_request)."""
        user = self.server.check_password(username, password, self.request.client_ip)
        if user is None:
            raise InvalidGrantError(WRONG_CREDENTIALS)
        return user


class RefreshTokenGrant(NarrowingRefresh, grants.RefreshTokenGrant):
    """Rotation with reuse detection (RFC 9700 §4.14.2).

    The presented token is used up when its successor is stored (server.save_token),
    atomically: of concurrent requests with one token exactly one wins, and every
    other presentation of a used token ends the whole login.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshTokenRecord | None:
        record = self.server.find_refresh_token(refresh_token)
        if record is None or not record.check_client(self.request.client) or record.is_expired():
            raise InvalidGrantError(UNKNOWN_REFRESH_TOKEN)
        if record.used:
            self.server.end_session(record.sid)
            audit("refresh.reused", user_id=record.session.user_id, sid=record.sid)
            raise InvalidGrantError(REUSED)
        return record

    def authenticate_user(self, refresh_token: RefreshTokenRecord) -> AuthenticatedUser:
        """The login's user, without a round trip: a login outlives no password change,
        lock or deletion (they end it), so a live login's user is current."""
        return AuthenticatedUser(refresh_token.session.user_id, refresh_token.sid)

    def revoke_old_credential(self, refresh_token: RefreshTokenRecord) -> None:
        """Nothing to do: storing the successor used the token up (server.save_token)."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    # `none` is listed so that a public client hears unauthorized_client, not invalid_client
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
