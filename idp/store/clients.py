"""The clients collection: OAuth2 clients, their allowed grants and scope, hashed secrets."""

from __future__ import annotations

from typing import Any

from idp.store.mongo import Database
from idp.store.values import text

COLLECTION = "clients"


async def ensure_indexes(db: Database) -> None:
    """Clients are looked up by _id (the client_id) only: no extra index."""


class ClientStore:
    def __init__(self, db: Database) -> None:
        self._clients = db[COLLECTION]

    async def get(self, client_id: str) -> dict[str, Any] | None:
        return await self._clients.find_one({"_id": text(client_id)})

    async def put(self, client: dict[str, Any]) -> None:
        """Create or replace one client document (keyed by its `_id`)."""
        await self._clients.replace_one({"_id": text(client["_id"])}, client, upsert=True)
