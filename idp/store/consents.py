"""Consents: which scopes a user has let each client have, remembered so that a request
for scopes already granted is not asked again (one `_id` read per authorization).

`consents`: `{_id: "<user_id> <client_id>", user_id, client_id, scopes: [...], updated_at}`.
A client id has no space (the clients file allows printable ASCII without it), so the
key is unambiguous, and a user's consents are one range of `_id` (no index needed to
forget them). Forgetting a client's consents, at start when it left the clients file,
uses the client_id index.
"""

from __future__ import annotations

import re
from datetime import datetime

from idp.store.mongo import Database
from idp.store.values import text

CONSENTS = "consents"


async def ensure_indexes(db: Database) -> None:
    await db[CONSENTS].create_index("client_id", name="client_id")


def _key(user_id: str, client_id: str) -> str:
    return f"{text(user_id)} {text(client_id)}"


class ConsentStore:
    def __init__(self, db: Database) -> None:
        self._consents = db[CONSENTS]

    async def granted(self, user_id: str, client_id: str) -> frozenset[str]:
        doc = await self._consents.find_one({"_id": _key(user_id, client_id)})
        return frozenset(doc["scopes"]) if doc else frozenset()

    async def of_user(self, user_id: str) -> dict[str, tuple[frozenset[str], datetime]]:
        """Every consent of a user, by client id: the `_id` range of forget_user."""
        prefix = text(user_id)
        cursor = self._consents.find({"_id": {"$gte": f"{prefix} ", "$lt": f"{prefix}!"}})
        return {doc["_id"][len(prefix) + 1:]: (frozenset(doc["scopes"]), doc["updated_at"]) async for doc in cursor}

    async def revoke(self, user_id: str, client_id: str) -> bool:
        result = await self._consents.delete_one({"_id": _key(user_id, client_id)})
        return result.deleted_count == 1

    async def grant(self, user_id: str, client_id: str, scopes: list[str], now: datetime) -> None:
        """Add scopes to what the user granted the client (a wider request adds to it)."""
        await self._consents.update_one(
            {"_id": _key(user_id, client_id)},
            {"$addToSet": {"scopes": {"$each": scopes}},
             "$set": {"updated_at": now, "user_id": user_id, "client_id": client_id}},
            upsert=True,
        )

    async def forget_user(self, user_id: str) -> int:
        """Every consent of a user: the `_id` range "<user_id> " to "<user_id>!" ("!"
        follows the space)."""
        prefix = text(user_id)
        result = await self._consents.delete_many({"_id": {"$gte": f"{prefix} ", "$lt": f"{prefix}!"}})
        return int(result.deleted_count)

    async def forget_client(self, client_id: str) -> int:
        """Every consent given to a client; documents written before they carried a
        client_id are matched by the end of their `_id`."""
        result = await self._consents.delete_many({"$or": [
            {"client_id": text(client_id)},
            {"_id": {"$regex": f" {re.escape(client_id)}$"}},
        ]})
        return int(result.deleted_count)
