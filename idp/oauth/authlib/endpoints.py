"""RFC 7009 revocation (our logout) and RFC 7662 introspection, on Authlib's endpoints.

Which tokens a caller may see or revoke (RFC 7662 §4, RFC 7009 §2.1): its own, always;
for introspection also other clients' access tokens when it is registered with
`"introspection": true`; other clients' refresh tokens never. A token it may not see is
answered exactly as an unknown one: `{"active": false}`, or a revocation's 200 that
changes nothing (a 400 would tell the caller the token exists).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.oauth.authlib.models import RefreshTokenRecord, TokenRecord
from idp.oauth.clients import Client
from idp.oauth.protocol import AUTH_METHODS, CONFIDENTIAL_METHODS


class _FindsTokens:
    """What both endpoints share: the token lookup, and the parameter check."""

    server: Any

    def check_params(self, request: Any, client: Client) -> None:
        """Only `token` is required; an unknown token_type_hint is ignored (RFC 7009
        §2.1 and RFC 7662 §2.1 let the server do so): the token is found either way."""
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' in request.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        record: TokenRecord | None = self.server.find_token(token_string, token_type_hint)
        return record


class Revocation(_FindsTokens, RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def authenticate_token(self, request: Any, client: Client) -> TokenRecord | None:
        # Overridden because Authlib's answers another client's token with invalid_grant
        # (400), which tells the caller that the token exists; it has no hook for this.
        self.check_params(request, client)
        record = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        return record if record is not None and record.check_client(client) else None

    def revoke_token(self, token: TokenRecord, request: Any) -> None:
        self.server.revoke(token)


class Introspection(_FindsTokens, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(CONFIDENTIAL_METHODS)

    def check_permission(self, token: TokenRecord, client: Client, request: Any) -> bool:
        """Authlib answers `{"active": false}` when this says no."""
        return client.may_see(token.client_id, refresh_token=isinstance(token, RefreshTokenRecord))

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        return token.introspection()
