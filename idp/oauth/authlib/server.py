"""Authlib's AuthorizationServer for our async stack.

Authlib is synchronous: `create_token_response` and `create_endpoint_response` run in a
worker thread (Bridge.run_sync), and every hook below hands the lifecycle's coroutine
back to the event loop (errors.run: bridge.wait, and the one table from domain outcomes
to Authlib's errors). Responses are plain (status, body, headers) tuples; the Quart
blueprint turns them into HTTP responses on the loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from authlib.consts import default_json_headers
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidScopeError, UnsupportedGrantTypeError
from authlib.oauth2.rfc7636 import CodeChallenge

from idp.accounts.emails import lookup_key
from idp.accounts.password_check import PasswordCheck
from idp.accounts.recovery import Verification
from idp.accounts.throttling import SlowDown
from idp.clock import Clock, to_datetime
from idp.logins.access import AccessTokens
from idp.logins.codes import Codes
from idp.logins.logins import Logins
from idp.logins.refresh import Refresh
from idp.oauth.authlib.client_auth import ClientAuthenticator, uses_basic
from idp.oauth.authlib.endpoints import Introspection, Revocation
from idp.oauth.authlib.errors import run
from idp.oauth.authlib.grants import AuthorizationCodeGrant, ClientCredentialsGrant, PasswordGrant, RefreshTokenGrant
from idp.oauth.authlib.models import AccessTokenRecord, AuthenticatedUser, CodeRecord, RefreshTokenRecord, TokenRecord
from idp.oauth.authlib.requests import OAuthRequest
from idp.oauth.authlib.tokens import AccessTokenGenerator, IdTokens
from idp.oauth.clients import Client, ClientRegistry
from idp.oauth.protocol import SCOPE_PATTERN
from idp.logins.handles import new_id as new_session_id
from idp.ops.audit import audit

Response = tuple[int, Any, list[tuple[str, str]]]

_SCOPE = re.compile(SCOPE_PATTERN)


class SlowDownError(OAuth2Error):
    error = "slow_down"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed attempts; try again later.")
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class MissingGrantTypeError(UnsupportedGrantTypeError):
    """No grant_type at all is a missing parameter (invalid_request), not an unknown one.

    A subclass of UnsupportedGrantTypeError because that is the one error Authlib's
    create_token_response catches around grant lookup."""

    error = "invalid_request"

    def get_error_description(self) -> str:
        return "Missing 'grant_type' in request."


class S256Only(CodeChallenge):
    """PKCE with S256 only (RFC 9700 §2.1.1); the authorization endpoint refuses `plain`."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]


class OAuthServer(AuthorizationServer):
    def __init__(self, *, registry: ClientRegistry, logins: Logins, refresh: Refresh, access: AccessTokens,
                 codes: Codes, password_check: PasswordCheck, generator: AccessTokenGenerator,
                 id_tokens: IdTokens, issuer: str, clock: Clock,
                 second_factor: Callable[[str], Coroutine[Any, Any, None]] | None = None,
                 verification: Verification | None = None) -> None:
        super().__init__()
        self._authenticate_client = ClientAuthenticator(self.query_client)
        self.registry = registry
        self._logins = logins
        self._refresh = refresh
        self._access = access
        self._codes = codes
        self._password_check = password_check
        # raises SecondFactorRequired for an account a password alone cannot sign in to
        self._second_factor = second_factor
        self._issuer = issuer
        self._clock = clock
        self._verification = verification
        self.register_token_generator("default", generator)
        for grant in (PasswordGrant, RefreshTokenGrant, ClientCredentialsGrant):
            self.register_grant(grant)
        self.register_grant(AuthorizationCodeGrant, [S256Only(required=True), id_tokens])
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    # -- framework glue -----------------------------------------------------------------

    def create_oauth2_request(self, request: OAuthRequest) -> OAuthRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        return status, body, list(headers)

    def authenticate_client(self, request: OAuthRequest, methods: list[str], endpoint: str = "token") -> Client:
        return self._authenticate_client(request, methods, endpoint)

    def handle_error_response(self, request: OAuthRequest, error: OAuth2Error) -> Response:
        if isinstance(error, InvalidClientError):
            # RFC 6749 §5.2: 401, with a challenge for the scheme the client used
            error.status_code = 401
            status, body, _ = error()
            if not uses_basic(request.headers):
                return status, body, list(default_json_headers)
            # a bare challenge, the documented answer (RFC 7617 would add a realm)
            return status, body, [*default_json_headers, ("WWW-Authenticate", "Basic")]
        response: Response = super().handle_error_response(request, error)
        return response

    def get_token_grant(self, request: OAuthRequest) -> Any:
        if not request.payload.grant_type:
            raise MissingGrantTypeError(None)
        return super().get_token_grant(request)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's signal hook; nothing listens."""

    def validate_requested_scope(self, scope: str | None) -> None:
        if scope and not _SCOPE.fullmatch(scope):
            raise InvalidScopeError("The scope is not a space-separated list of scope names.")

    # -- hooks (run in a worker thread) ---------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        return self.registry.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuthRequest) -> None:
        """Unused: each grant stores what it issued in its own save_token (grants.py)."""

    def check_password(self, username: str, password: str, client_ip: str) -> AuthenticatedUser | None:
        try:
            credentials = run(self._password_check(lookup_key(username), password, client_ip))
        except SlowDown as exc:
            raise SlowDownError(exc.retry_after) from None
        if credentials is None:
            return None
        if self._second_factor is not None:  # after the right password only
            run(self._second_factor(credentials.user_id))
        return AuthenticatedUser(credentials.user_id, new_session_id(), credentials.stamp)

    def require_verified_email(self, user: AuthenticatedUser) -> None:
        """IDP_REQUIRE_VERIFIED_EMAIL: invalid_grant for an address not confirmed yet."""
        if self._verification is not None:
            run(self._verification.require_verified(user.user_id))

    def start_login(self, user: AuthenticatedUser, client_id: str, scope: str, refresh_token: str) -> None:
        login = self._logins.new(user.sid, user.user_id, client_id, scope, refresh_token.split(".", 1)[1])
        run(self._logins.start(login, user.stamp))

    def present_refresh_token(self, token: str, client: Client) -> RefreshTokenRecord:
        login = run(self._refresh.present(token, client.client_id))
        return RefreshTokenRecord(login, True, self._now(), self._issuer, presented=token)

    def rotate_refresh_token(self, record: RefreshTokenRecord, successor: str) -> None:
        run(self._refresh.rotate(record.login, record.presented, successor))

    def present_code(self, code: str, client: Client, verifier: str | None) -> CodeRecord:
        return CodeRecord(run(self._codes.present(code, client.client_id, verifier)))

    def redeem_code(self, record: CodeRecord) -> AuthenticatedUser:
        redemption = run(self._codes.redeem(record.stored))
        return AuthenticatedUser(record.stored.user_id, redemption.sid, record.stored.stamp, redemption)

    def start_code_login(self, user: AuthenticatedUser, refresh_token: str | None) -> None:
        assert user.redemption is not None
        run(self._codes.start_login(user.redemption, refresh_token))

    def find_token(self, token: str, hint: str | None) -> TokenRecord | None:
        """Look the token up as the hint says first, then as the other kind (the other
        lookup costs no round trip: a JWT is not a refresh token's shape, nor the reverse).
        A token of a client that left the clients file is not found."""
        lookups = [self._find_access_token, self._find_refresh_token]
        if hint == "refresh_token":
            lookups.reverse()
        for lookup in lookups:
            record = lookup(token)
            if record is not None:
                return record if record.client_id in self.registry else None
        return None

    def revoke(self, record: TokenRecord) -> None:
        """An access token: that token. A refresh token: its whole login."""
        if isinstance(record, RefreshTokenRecord):
            run(self._logins.end(record.sid))
            audit("logout", user_id=record.login.user_id, sid=record.sid, ended="login")
        else:
            run(self._access.revoke(record.token))
            audit("logout", user_id=record.claims.get("sub"), sid=record.claims.get("sid"), ended="access_token")

    def _find_access_token(self, token: str) -> TokenRecord | None:
        found = run(self._access.find(token))
        return AccessTokenRecord(found) if found is not None else None

    def _find_refresh_token(self, token: str) -> TokenRecord | None:
        view = run(self._refresh.inspect(token))
        return RefreshTokenRecord(view.login, view.current, self._now(), self._issuer) if view else None

    def _now(self) -> datetime:
        return to_datetime(self._clock())
