"""The throttle collection: attempt counters per key, each living for one fixed window.

Shared by every instance through MongoDB; each count is one atomic update, and a
counter document expires by itself (TTL index; the queries check expiry too, since TTL
purges lazily and the in-memory store never purges).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from idp.store.mongo import Database, ensure_ttl_index
from idp.store.values import text

COLLECTION = "throttle"


class Window(NamedTuple):
    count: int
    ends_at: datetime


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, COLLECTION, "ends_at")


class ThrottleStore:
    def __init__(self, db: Database) -> None:
        self._counters = db[COLLECTION]

    async def hit(self, key: str, window_seconds: int, now: datetime) -> Window:
        """Count one attempt for key, opening a new window when none is live."""
        for _ in range(3):
            try:
                doc = await self._counters.find_one_and_update(
                    {"_id": text(key), "ends_at": {"$gt": now}},
                    {"$inc": {"count": 1},
                     "$setOnInsert": {"ends_at": now + timedelta(seconds=window_seconds)}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                return Window(doc["count"], doc["ends_at"])
            except DuplicateKeyError:
                # an expired window still holds the key: clear it and count again
                await self._counters.delete_one({"_id": key, "ends_at": {"$lte": now}})
        raise RuntimeError(f"could not count an attempt for {key!r}")

    async def undo(self, key: str, now: datetime) -> None:
        """Take back one attempt (a success that should not count against the limit)."""
        await self._counters.update_one(
            {"_id": text(key), "ends_at": {"$gt": now}, "count": {"$gt": 0}},
            {"$inc": {"count": -1}},
        )

    async def reset(self, key: str) -> None:
        await self._counters.delete_one({"_id": text(key)})
