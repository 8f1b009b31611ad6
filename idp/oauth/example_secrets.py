"""The client secrets of the repository's example clients file, refused at start.

clients.example.json is public: a server whose clients file kept one of its secrets
would let anyone act as that client. Only their SHA-256 hashes are here, compared with
the hash of each configured secret, so a copied secret is caught even when the client
was renamed, and the example file need not be present where the server runs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

EXAMPLE_SECRET_HASHES = frozenset({
    "b86ccb2d8852d956376615732a171d88c536c7e6ae85499941eb444ef00baa7b",
    "41c7049f1537e006a99ec2de20b014c8ceabda41505d9f6ab599f7b5e2d10a1d",
    "417849feff786c702e25ebaed529aceaf15d416bd457782895db6d79f564de4a",
})


def is_example_secret(secret: str) -> bool:
    digest = hashlib.sha256(secret.encode()).hexdigest()
    found = False
    for known in EXAMPLE_SECRET_HASHES:  # every one compared, in constant time each
        found |= hmac.compare_digest(digest, known)
    return found


def clients_with_example_secrets(entries: Iterable[tuple[str, str | None]]) -> list[str]:
    """The ids, of (client_id, secret) pairs, whose secret is one of the example file's."""
    return [client_id for client_id, secret in entries if secret is not None and is_example_secret(secret)]
