"""The users collection: one document per account, unique on the normalised e-mail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from idp.store.mongo import Database
from idp.store.values import text

COLLECTION = "users"


class EmailTaken(Exception):
    """Another account already has this e-mail."""


async def ensure_indexes(db: Database) -> None:
    await db[COLLECTION].create_index("email_key", unique=True, name="email_key_unique")


class UserStore:
    def __init__(self, db: Database) -> None:
        self._users = db[COLLECTION]

    async def create(self, user: dict[str, Any]) -> None:
        """Insert a new user document (with its `_id` and `email_key`)."""
        try:
            await self._users.insert_one(dict(user))
        except DuplicateKeyError:
            raise EmailTaken from None

    async def by_id(self, user_id: str) -> dict[str, Any] | None:
        return await self._users.find_one({"_id": text(user_id)})

    async def by_email_key(self, email_key: str) -> dict[str, Any] | None:
        return await self._users.find_one({"email_key": text(email_key)})

    async def update(self, user_id: str, changes: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """Apply changes and return the updated document, or None if the user is gone."""
        try:
            return await self._users.find_one_and_update(
                {"_id": text(user_id)},
                {"$set": {**changes, "updated_at": now}},
                return_document=ReturnDocument.AFTER,
            )
        except OperationFailure as exc:
            if _is_duplicate_key(exc):
                raise EmailTaken from None
            raise

    async def set_password_hash_if_unchanged(self, user_id: str, old_hash: str, new_hash: str) -> None:
        """Store a rehashed password, unless the password changed meanwhile."""
        await self._users.update_one(
            {"_id": text(user_id), "password_hash": text(old_hash)},
            {"$set": {"password_hash": new_hash}},
        )

    async def delete(self, user_id: str) -> bool:
        result = await self._users.delete_one({"_id": text(user_id)})
        return result.deleted_count == 1


def _is_duplicate_key(exc: OperationFailure) -> bool:
    """MongoDB says DuplicateKeyError; FerretDB v1 (SQLite) reports a unique-index
    violation in an update as an internal error naming the SQLite constraint."""
    return isinstance(exc, DuplicateKeyError) or "UNIQUE constraint failed" in str(exc)
