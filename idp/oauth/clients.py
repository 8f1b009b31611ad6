"""Clients: what the server knows of each application, and the registry of them.

Clients come from the clients file and live in the process: looking one up costs no
round trip. `Client` offers the methods Authlib calls on a client (get_client_id,
check_redirect_uri, check_client_secret, …) by duck typing, without depending on
Authlib's ClientMixin.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from idp.logins.handles import secret_hash


@dataclass(frozen=True)
class Client:
    client_id: str
    auth_method: str
    grant_types: tuple[str, ...]
    scope: str
    secret_hash: str | None = field(default=None, repr=False)
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    first_party: bool = False
    introspection: bool = False  # may introspect other clients' access tokens (a resource server)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Client:
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
            introspection=doc.get("introspection", False),
        )

    @property
    def confidential(self) -> bool:
        return self.auth_method != "none"

    def may_see(self, owner_client_id: str, *, refresh_token: bool) -> bool:
        """Whether this client may introspect a token of `owner_client_id` (RFC 7662 §4):
        its own always; another client's access tokens only if registered for it;
        another client's refresh tokens never."""
        if hmac.compare_digest(owner_client_id, self.client_id):
            return True
        return self.introspection and not refresh_token

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


class ClientRegistry:
    """The clients a running server knows, by id: read once at start, kept in the process."""

    def __init__(self, clients: Iterable[Client]) -> None:
        self._clients = {client.client_id: client for client in clients}

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._clients

    def __iter__(self) -> Iterator[Client]:
        return iter(self._clients.values())
