"""How a client is named and linked on the pages a person sees (RFC 7591 §2 display
members from the clients file): its client_name where it has one, never a bare id when
a name exists."""

from __future__ import annotations

from dataclasses import dataclass

from idp.http.context import services


@dataclass(frozen=True)
class ClientDisplay:
    name: str
    uri: str | None = None
    logo_uri: str | None = None
    policy_uri: str | None = None
    tos_uri: str | None = None


def client_display(client_id: str | None) -> ClientDisplay | None:
    """The display of a client the server knows, or None."""
    if client_id is None:
        return None
    for entry in services().client_entries:
        if entry.client_id == client_id:
            return ClientDisplay(name=entry.client_name or entry.client_id, uri=entry.client_uri,
                                 logo_uri=entry.logo_uri, policy_uri=entry.policy_uri, tos_uri=entry.tos_uri)
    return None
