"""The throttle collection: one document per key (an e-mail's or an IP's digest), keyed by it.

Each document holds the key's recent attempts (`{id, at}`): an attempt is one `$push`
that returns the document, so counting costs one command whatever the number of
attempts ever made. Attempts that have left the window are pruned when the list grows
long (never by `$slice`: concurrent attempts could slice counted ones away). Documents expire through a
TTL index one window after their last attempt; the counting checks time itself, since
TTL purges lazily and the in-memory store never purges.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pymongo import ReturnDocument, UpdateOne

from idp.store.mongo import Database, ensure_ttl_index, upsert
from idp.store.values import text

COLLECTION = "throttle"


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, COLLECTION, "expires_at")


class ThrottleStore:
    def __init__(self, db: Database) -> None:
        self._keys = db[COLLECTION]

    async def record(self, key: str, now: datetime, window_seconds: int) -> tuple[str, list[datetime]]:
        """Count one attempt for key; returns its id and the times of the attempts stored
        (this one included), oldest first."""
        attempt_id = uuid.uuid4().hex
        doc = await upsert(lambda: self._keys.find_one_and_update(
            {"_id": text(key)},
            {
                "$push": {"attempts": {"id": attempt_id, "at": now}},
                "$set": {"expires_at": now + timedelta(seconds=window_seconds)},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        ))
        return attempt_id, sorted(attempt["at"] for attempt in doc["attempts"])

    async def forget(self, key: str, attempt_id: str) -> None:
        """Take one attempt back."""
        await self._keys.update_one({"_id": text(key)}, {"$pull": {"attempts": {"id": attempt_id}}})

    async def prune(self, key: str, before: datetime) -> None:
        """Drop the attempts that have left the window."""
        await self._keys.update_one({"_id": text(key)}, {"$pull": {"attempts": {"at": {"$lte": before}}}})

    async def settle(self, reset_key: str, forget: tuple[str, str]) -> None:
        """After a success: clear one key's attempts and take one attempt back from
        another, in one command."""
        key, attempt_id = forget
        await self._keys.bulk_write([
            UpdateOne({"_id": text(reset_key)}, {"$set": {"attempts": []}}),
            UpdateOne({"_id": text(key)}, {"$pull": {"attempts": {"id": attempt_id}}}),
        ], ordered=False)
