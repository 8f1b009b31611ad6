"""The throttle collection: one document per key (an e-mail's, an IP's or a registration
IP's digest), keyed by it.

Each document holds the key's recent attempts: an attempt is one `$push` that returns the
document, so counting costs one command whatever the number of attempts ever made, and
MongoDB applies it atomically, so concurrent attempts are all counted. An attempt is
stored as the string `<milliseconds since the epoch, 13 digits>.<tag>.<random id>`, the
tag naming where it came from (on an e-mail's document, a digest of the client IP), so
that taking attempts back or pruning old ones removes exact values (`$pullAll`).
Documents expire through a TTL index one window after their last attempt; the counting
checks time itself, since TTL purges lazily and the in-memory store never purges.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument, UpdateOne

from idp.store.mongo import Database, ensure_ttl_index, upsert
from idp.store.values import text

COLLECTION = "throttle"


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, COLLECTION, "expires_at")


def attempt_time(attempt: str) -> datetime:
    """When an attempt (as stored) was made."""
    return datetime.fromtimestamp(int(attempt.split(".", 1)[0]) / 1000, UTC)


def attempt_tag(attempt: str) -> str:
    """Where an attempt came from, as its counter tagged it ("" for none)."""
    parts = attempt.split(".")
    return parts[1] if len(parts) == 3 else ""


class ThrottleStore:
    def __init__(self, db: Database) -> None:
        self._keys = db[COLLECTION]

    async def record(self, key: str, now: datetime, window_seconds: int, tag: str = "") -> tuple[str, list[str]]:
        """Count one attempt for key; returns it and every attempt stored (it included)."""
        attempt = f"{int(now.timestamp() * 1000):013d}.{tag}.{uuid.uuid4().hex}"

        async def push() -> dict[str, Any] | None:
            found: dict[str, Any] | None = await upsert(lambda: self._keys.find_one_and_update(
                {"_id": text(key)},
                {"$push": {"attempts": attempt}, "$set": {"expires_at": now + timedelta(seconds=window_seconds)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            ))
            return found

        doc = await push()
        if doc is None:
            # An upsert that raced another's insert of this `_id` may come back empty on
            # some wire-compatible servers (SecantusDB 0.5), whether or not it pushed. Read
            # the document and push only if the attempt is not there ($push is not
            # idempotent: twice would count it twice).
            doc = await self._keys.find_one({"_id": text(key)})
            if doc is None or attempt not in doc.get("attempts", ()):
                doc = await push() or await self._keys.find_one({"_id": text(key)})
        stored = list(doc["attempts"]) if doc else [attempt]
        # $push appends in the order the updates applied: the attempts up to ours are what
        # an answer of our own update holds, whatever was pushed after it
        return attempt, stored[:stored.index(attempt) + 1] if attempt in stored else [*stored, attempt]

    async def forget(self, key: str, attempts: list[str]) -> None:
        """Take these attempts back (a refused one, or those that left the window)."""
        if attempts:
            await self._keys.update_one({"_id": text(key)}, {"$pullAll": {"attempts": attempts}})

    async def settle(self, *forget: tuple[str, list[str]]) -> None:
        """After a success: take attempts back from several keys, in one command."""
        await self._keys.bulk_write([UpdateOne({"_id": text(key)}, {"$pullAll": {"attempts": attempts}})
                                     for key, attempts in forget if attempts], ordered=False)
