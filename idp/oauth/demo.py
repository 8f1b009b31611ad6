"""A first run that explains itself: on memory:// without IDP_CLIENTS_FILE, a server would
otherwise start with no client, and nobody could log in. It registers one public demo
client instead and prints how to use it. Never on a real database: there, clients come
from the clients file only.
"""

from __future__ import annotations

from idp.oauth.clients_file import ClientEntry
from idp.settings import Settings

CLIENT_ID = "demo"
_EMAIL = "ann@example.com"
_PASSWORD = "correct horse battery staple"


def clients(settings: Settings) -> list[ClientEntry]:
    """The demo client when this is a first run in memory without a clients file, else none."""
    if not settings.in_memory or settings.clients_file is not None:
        return []
    return [ClientEntry(client_id=CLIENT_ID, token_endpoint_auth_method="none",
                        grant_types=["password", "refresh_token"], scope="account")]


def banner(settings: Settings) -> str:
    """What to do next, with the real issuer: two commands to copy, when they can work."""
    issuer = settings.issuer
    rule = "=" * 78
    lines = [
        rule,
        f"FIRST RUN: memory:// and no IDP_CLIENTS_FILE, so a demo public client {CLIENT_ID!r} is",
        "registered (grants password and refresh_token, scope account). Everything is LOST ON EXIT.",
    ]
    if settings.registration_open:
        lines += [
            "Register a user, then log in with it:",
            "",
            f"  curl -s {issuer}/users -H 'Content-Type: application/json' "
            f"-d '{{\"name\": \"Ann\", \"email\": \"{_EMAIL}\", \"password\": \"{_PASSWORD}\"}}'",
            f"  curl -s {issuer}/oauth/token -d grant_type=password -d client_id={CLIENT_ID} "
            f"-d username={_EMAIL} --data-urlencode 'password={_PASSWORD}'",
            "",
        ]
    else:
        # `idp users add` runs in a process of its own, with a memory store of its own
        lines.append("IDP_SELF_REGISTRATION is closed: on memory:// nobody can make an account "
                     "(not even idp users add); open it, or use MongoDB.")
    lines += ["For real use: IDP_MONGO_URI (MongoDB) and IDP_CLIENTS_FILE (your clients); see the README.", rule]
    return "\n".join(lines)
