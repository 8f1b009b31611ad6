"""The clients collection: a copy of the clients file, for administration.

Requests never read it: the clients file is the source of truth and its clients live in
the process (idp.app). At every start the file's clients are written here, and the
clients no longer in the file are kept but marked `in_file: false`, so that an operator
can still see which clients existed and when they went.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from idp.store.mongo import Database, upsert

COLLECTION = "clients"


async def ensure_indexes(db: Database) -> None:
    """Clients are written at start and listed by administrators: no extra index."""


class ClientStore:
    def __init__(self, db: Database) -> None:
        self._clients = db[COLLECTION]

    async def sync(self, documents: list[dict[str, Any]], now: datetime) -> list[str]:
        """Create or replace each client of the file; returns the ids that left it now."""
        ids = [doc["_id"] for doc in documents]
        for doc in documents:  # several workers may start at once
            stored = {**doc, "in_file": True}
            await upsert(lambda: self._clients.replace_one({"_id": stored["_id"]}, stored, upsert=True))
        gone = {"_id": {"$nin": ids}, "in_file": {"$ne": False}}
        removed = [doc["_id"] async for doc in self._clients.find(gone, {"_id": 1})]
        if removed:
            await self._clients.update_many(gone, {"$set": {"in_file": False, "removed_at": now}})
        return removed

    async def all(self) -> list[dict[str, Any]]:
        """Every client ever synchronised, by id; never a secret (only its hash is stored)."""
        return [doc async for doc in self._clients.find({}, {"secret_hash": 0}).sort("_id", 1)]
