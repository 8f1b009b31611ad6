"""RFC 7009 revocation (our logout) and RFC 7662 introspection, on Authlib's endpoints."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idp.oauth.authlib.models import Client
from idp.oauth.protocol import AUTH_METHODS, CONFIDENTIAL_METHODS


class _FindsTokens:
    """What both endpoints share: the token lookup, and the parameter check."""

    server: Any

    def check_params(self, request: Any, client: Client) -> None:
        """Only `token` is required; an unknown token_type_hint is ignored (RFC 7009
        §2.1 and RFC 7662 §2.1 let the server do so): the token is found either way."""
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' in request.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return self.server.find_token(token_string, token_type_hint)


class Revocation(_FindsTokens, RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def revoke_token(self, token: Any, request: Any) -> None:
        self.server.revoke(token)


class Introspection(_FindsTokens, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(CONFIDENTIAL_METHODS)

    def check_permission(self, token: Any, client: Client, request: Any) -> bool:
        """Any authenticated confidential client may introspect: resource servers are
        registered as confidential clients of their own."""
        return True

    def introspect_token(self, token: Any) -> dict[str, Any]:
        return token.introspection()
