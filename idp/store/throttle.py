"""The throttle collection: one document per counted attempt, kept for one window.

Counting is an insert followed by a count, never a read-modify-write: inserts are
atomic on every server, so of attempts racing each other the k-th inserted sees a
count of at least k, and no more than the limit can pass, across every instance.
(An $inc counter was tried first; on FerretDB v1 concurrent increments got lost.)
Documents expire by themselves through a TTL index; the queries check time too,
since TTL purges lazily and the in-memory store never purges.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from idp.store.mongo import Database, ensure_ttl_index
from idp.store.values import text

COLLECTION = "throttle"


async def ensure_indexes(db: Database) -> None:
    await db[COLLECTION].create_index([("key", 1), ("at", 1)], name="key_at")
    await ensure_ttl_index(db, COLLECTION, "expires_at")


class ThrottleStore:
    def __init__(self, db: Database) -> None:
        self._attempts = db[COLLECTION]

    async def record(self, key: str, now: datetime, window_seconds: int) -> str:
        """Count one attempt for key; returns its id, for forget()."""
        attempt_id = uuid.uuid4().hex
        await self._attempts.insert_one({
            "_id": attempt_id,
            "key": text(key),
            "at": now,
            "expires_at": now + timedelta(seconds=window_seconds),
        })
        return attempt_id

    async def count_since(self, key: str, since: datetime) -> int:
        return await self._attempts.count_documents({"key": text(key), "at": {"$gt": since}})

    async def oldest_since(self, key: str, since: datetime) -> datetime | None:
        doc = await self._attempts.find_one({"key": text(key), "at": {"$gt": since}}, sort=[("at", 1)])
        return doc["at"] if doc else None

    async def forget(self, attempt_id: str) -> None:
        await self._attempts.delete_one({"_id": text(attempt_id)})

    async def reset(self, key: str) -> None:
        await self._attempts.delete_many({"key": text(key)})
