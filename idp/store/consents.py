"""Consents: which scopes a user has let each client have, remembered so that a request
for scopes already granted is not asked again (one `_id` read per authorization).

`consents`: `{_id: "<user_id> <client_id>", scopes: [...], updated_at}`. A client id has no
space (the clients file allows printable ASCII without it), so the key is unambiguous.
"""

from __future__ import annotations

from datetime import datetime

from idp.store.mongo import Database
from idp.store.values import text

CONSENTS = "consents"


async def ensure_indexes(db: Database) -> None:
    """Reached by `_id` only."""


def _key(user_id: str, client_id: str) -> str:
    return f"{text(user_id)} {text(client_id)}"


class ConsentStore:
    def __init__(self, db: Database) -> None:
        self._consents = db[CONSENTS]

    async def granted(self, user_id: str, client_id: str) -> frozenset[str]:
        doc = await self._consents.find_one({"_id": _key(user_id, client_id)})
        return frozenset(doc["scopes"]) if doc else frozenset()

    async def of_user(self, user_id: str) -> dict[str, tuple[frozenset[str], datetime]]:
        """Every consent of a user, by client id: a range of `_id` (the key starts with the user id)."""
        prefix = f"{text(user_id)} "
        cursor = self._consents.find({"_id": {"$gte": prefix, "$lt": prefix + "\U0010ffff"}})
        return {doc["_id"][len(prefix):]: (frozenset(doc["scopes"]), doc["updated_at"]) async for doc in cursor}

    async def revoke(self, user_id: str, client_id: str) -> bool:
        result = await self._consents.delete_one({"_id": _key(user_id, client_id)})
        return result.deleted_count == 1

    async def grant(self, user_id: str, client_id: str, scopes: list[str], now: datetime) -> None:
        """Add scopes to what the user granted the client (a wider request adds to it)."""
        await self._consents.update_one(
            {"_id": _key(user_id, client_id)},
            {"$addToSet": {"scopes": {"$each": scopes}}, "$set": {"updated_at": now}},
            upsert=True,
        )
