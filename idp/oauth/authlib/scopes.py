"""invalid_scope answers that name the scopes that are not allowed (RFC 6749 §3.3, §6)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidScopeError


def _named(scopes: set[str]) -> str:
    # scope names were checked against RFC 6749 §3.3's characters (server.validate_requested_scope),
    # so they are fit for error_description as they are
    names = ", ".join(f"'{name}'" for name in sorted(scopes))
    return f"the scope {names}" if len(scopes) == 1 else f"the scopes {names}"


def not_registered(client_id: str, requested: str, registered: str) -> InvalidScopeError:
    """A request for scopes the client is not registered with."""
    extra = set(requested.split()) - set(registered.split())
    return InvalidScopeError(f"Client '{client_id}' may not ask for {_named(extra)}.")


class NarrowingRefresh:
    """A mixin for Authlib's RefreshTokenGrant: its check that a refresh asks for no more
    than the login was granted, with an answer that says which scopes were too many."""

    request: Any
    validate_requested_scope: Any

    def _validate_token_scope(self, token: Any) -> None:
        # Authlib checks the scope's syntax for every grant but this one
        self.validate_requested_scope()
        requested = set((self.request.payload.scope or "").split())
        extra = requested - set(token.get_scope().split())
        if extra:
            raise InvalidScopeError(f"This login was not granted {_named(extra)}; "
                                    "a refresh may keep or narrow the scope, not widen it.")
