"""Every index the stores rely on, made at each start (creating an existing index is a no-op)."""

from __future__ import annotations

from idp.store import (
    clients, codes, consents, factors, interactions, logins, outbox, recovery_tokens, throttle, users,
)
from idp.store.mongo import Database

STORES = (users, clients, logins, throttle, codes, consents, interactions, factors, outbox, recovery_tokens)


async def ensure_indexes(db: Database) -> None:
    for store in STORES:
        await store.ensure_indexes(db)
