"""Authlib's AuthorizationServer for our async stack.

Authlib is synchronous: `create_token_response` and `create_endpoint_response` run in a
worker thread (Bridge.run_sync), and every storage hook below hands its coroutine back
to the event loop with bridge.wait. Responses are plain (status, body, headers) tuples;
the Quart blueprint turns them into HTTP responses on the loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from authlib.consts import default_json_headers
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import (
    InvalidClientError, InvalidGrantError, InvalidScopeError, UnsupportedGrantTypeError,
)
from authlib.oauth2.rfc7636 import CodeChallenge

from idp.ops.audit import audit
from idp.oauth.authlib.bridge import wait
from idp.accounts.password_check import PasswordCheck
from idp.accounts.emails import lookup_key
from idp.oauth.authlib.client_auth import ClientAuthenticator, uses_basic
from idp.oauth.authlib.codes import AuthorizationCodeGrant, CodeRecord, Codes
from idp.oauth.authlib.endpoints import Introspection, Revocation
from idp.oauth.authlib.grants import (
    REUSED, UNVERIFIED_EMAIL, WRONG_CREDENTIALS, ClientCredentialsGrant, PasswordGrant, RefreshTokenGrant,
)
from idp.oauth.authlib.models import AuthenticatedUser, Client, RefreshTokenRecord
from idp.oauth.oidc import IdTokens
from idp.oauth.authlib.requests import OAuthRequest
from idp.logins.service import CredentialsChanged, TokenRecord, TokenService
from idp.oauth.tokens import AccessTokenGenerator, new_session_id
from idp.oauth.protocol import SCOPE_PATTERN
from idp.accounts.throttling import SlowDown

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
    def __init__(self, tokens: TokenService, password_check: PasswordCheck, generator: AccessTokenGenerator,
                 codes: Codes, id_tokens: IdTokens) -> None:
        super().__init__()
        self._authenticate_client = ClientAuthenticator(self.query_client)
        self.tokens = tokens
        self.codes = codes
        self._password_check = password_check
        # IDP_REQUIRE_VERIFIED_EMAIL: Verification.may_sign_in, set by build_services
        self.may_sign_in: Callable[[str], Coroutine[Any, Any, bool]] | None = None
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
            # exactly as the contract writes it (RFC 7617 would add a realm)
            return status, body, [*default_json_headers, ("WWW-Authenticate", "Basic")]
        return super().handle_error_response(request, error)

    def get_token_grant(self, request: OAuthRequest) -> Any:
        if not request.payload.grant_type:
            raise MissingGrantTypeError(None)
        return super().get_token_grant(request)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's signal hook; nothing listens."""

    def validate_requested_scope(self, scope: str | None) -> None:
        if scope and not _SCOPE.fullmatch(scope):
            raise InvalidScopeError("The scope is not a space-separated list of scope names.")

    # -- storage hooks (run in a worker thread) --------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        return self.tokens.client(client_id)

    def save_token(self, token: dict[str, Any], request: OAuthRequest) -> None:
        if isinstance(request.authorization_code, CodeRecord):
            wait(self.codes.start_login(request.authorization_code, request.user, token))
            return
        refresh_token = token.get("refresh_token")
        if refresh_token is None:
            return
        previous = request.refresh_token
        if isinstance(previous, RefreshTokenRecord):
            if not wait(self.tokens.rotate(previous, refresh_token)):
                # another request rotated this token first: a replay, so the login ends
                wait(self.tokens.end_session(previous.sid))
                audit("refresh.reused", user_id=previous.session.user_id, sid=previous.sid)
                raise InvalidGrantError(REUSED)
            return
        try:
            wait(self.tokens.start_session(request.user, request.client.client_id, token["scope"], refresh_token))
        except CredentialsChanged:
            raise InvalidGrantError(WRONG_CREDENTIALS) from None
        audit("login.succeeded", user_id=request.user.user_id, sid=request.user.sid)

    def check_password(self, username: str, password: str, client_ip: str) -> AuthenticatedUser | None:
        try:
            credentials = wait(self._password_check(lookup_key(username), password, client_ip))
        except SlowDown as exc:
            raise SlowDownError(exc.retry_after) from None
        if credentials is None:
            return None
        if self.may_sign_in is not None and not wait(self.may_sign_in(credentials.user_id)):
            raise InvalidGrantError(UNVERIFIED_EMAIL)  # after the right password only
        return AuthenticatedUser(credentials.user_id, new_session_id(), credentials.stamp)

    def find_code(self, code: str) -> CodeRecord | None:
        return wait(self.codes.find(code))

    def redeem_code(self, record: CodeRecord) -> AuthenticatedUser:
        return wait(self.codes.redeem(record))

    def find_refresh_token(self, token: str) -> RefreshTokenRecord | None:
        return wait(self.tokens.refresh_record(token))

    def end_session(self, sid: str) -> None:
        wait(self.tokens.end_session(sid))

    def find_token(self, token: str, hint: str | None) -> TokenRecord | None:
        return wait(self.tokens.find(token, hint))

    def revoke(self, record: TokenRecord) -> None:
        wait(self.tokens.revoke(record))
        if isinstance(record, RefreshTokenRecord):
            audit("logout", user_id=record.session.user_id, sid=record.sid, ended="login")
        else:
            audit("logout", user_id=record.claims.get("sub"), sid=record.claims.get("sid"), ended="access_token")
