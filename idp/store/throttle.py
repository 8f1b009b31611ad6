"""The throttle collection: one document per key (an e-mail's or an IP's digest), keyed by it.

Each document holds the key's recent attempts: an attempt is one `$push` that returns the
document, so counting costs one command whatever the number of attempts ever made, and
concurrent attempts each count (an update of one document is atomic). An attempt is
stored as the string `<milliseconds since the epoch, 13 digits>.<random id>`, so that
taking one back or pruning old ones removes exact values (`$pull` of a value,
`$pullAll`). Documents expire through a
TTL index one window after their last attempt; the counting checks time itself, since
TTL purges lazily and the in-memory store never purges.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument, UpdateOne

from idp.store.mongo import Database, ensure_ttl_index, upsert
from idp.store.values import text

COLLECTION = "throttle"


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, COLLECTION, "expires_at")


def attempt_time(attempt: str) -> datetime:
    """When an attempt (as stored) was made."""
    return datetime.fromtimestamp(int(attempt.split(".", 1)[0]) / 1000, UTC)


class ThrottleStore:
    def __init__(self, db: Database) -> None:
        self._keys = db[COLLECTION]

    async def record(self, key: str, now: datetime, window_seconds: int) -> tuple[str, list[str]]:
        """Count one attempt for key; returns it and every attempt stored (it included)."""
        attempt = f"{int(now.timestamp() * 1000):013d}.{uuid.uuid4().hex}"
        doc = await upsert(lambda: self._keys.find_one_and_update(
            {"_id": text(key)},
            {
                "$push": {"attempts": attempt},
                "$set": {"expires_at": now + timedelta(seconds=window_seconds)},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        ))
        if doc is None:
            # Some wire-compatible servers (SecantusDB 0.5) apply an upsert that raced
            # another's insert but answer with no document. The attempt is stored, and
            # `$push` appends in the order the updates applied, so the attempts up to
            # ours are what the answer would have held.
            doc = await self._keys.find_one({"_id": text(key)})
            stored = list(doc["attempts"]) if doc else []
            return attempt, stored[:stored.index(attempt) + 1] if attempt in stored else [*stored, attempt]
        return attempt, list(doc["attempts"])

    async def forget(self, key: str, attempt: str) -> None:
        """Take one attempt back."""
        await self._keys.update_one({"_id": text(key)}, {"$pull": {"attempts": attempt}})

    async def prune(self, key: str, attempts: list[str]) -> None:
        """Drop these attempts (those that have left the window)."""
        await self._keys.update_one({"_id": text(key)}, {"$pullAll": {"attempts": attempts}})

    async def settle(self, reset_key: str, forget: tuple[str, str]) -> None:
        """After a success: clear one key's attempts and take one attempt back from
        another, in one command."""
        key, attempt = forget
        await self._keys.bulk_write([
            UpdateOne({"_id": text(reset_key)}, {"$set": {"attempts": []}}),
            UpdateOne({"_id": text(key)}, {"$pull": {"attempts": attempt}}),
        ], ordered=False)
