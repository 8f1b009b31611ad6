"""Accounts: the profile of each user, and the credentials a login is checked against.

- `users`, keyed by the user id: name, e-mail and timestamps (what `/users/me` shows).
- `credentials`, keyed by the normalised e-mail: the user id, the password hash, a
  `stamp` that changes whenever the credentials do (password change, lock), and
  whether the account is locked. A login reads one document by `_id`; the e-mail is
  unique because it is the key of this document (an insert under an existing `_id` is
  refused atomically).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from idp.store.mongo import Database
from idp.store.values import text

USERS = "users"
CREDENTIALS = "credentials"


class EmailTaken(Exception):
    """Another account already has this e-mail."""


async def ensure_indexes(db: Database) -> None:
    """Both collections are reached by `_id` only."""


def new_stamp() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    email: str
    email_key: str
    created_at: datetime
    updated_at: datetime
    email_verified: bool = False  # whether `email` was confirmed (a link, a reset, an administrator)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> User:
        return cls(doc["_id"], doc["name"], doc["email"], doc["email_key"], doc["created_at"], doc["updated_at"],
                   doc.get("email_verified", False))

    def document(self) -> dict[str, Any]:
        return {"_id": self.user_id, "name": self.name, "email": self.email, "email_key": self.email_key,
                "created_at": self.created_at, "updated_at": self.updated_at, "email_verified": self.email_verified}


@dataclass(frozen=True)
class Credentials:
    email_key: str
    user_id: str
    password_hash: str
    stamp: str
    locked: bool = False
    # the newest password-reset link sent for this address: older ones no longer work.
    # Not carried to a new address (document() leaves it out): links to the old one die.
    reset_id: str | None = None

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Credentials:
        return cls(doc["_id"], doc["user_id"], doc["password_hash"], doc["stamp"], doc.get("locked", False),
                   doc.get("reset_id"))

    def document(self) -> dict[str, Any]:
        return {"_id": self.email_key, "user_id": self.user_id, "password_hash": self.password_hash,
                "stamp": self.stamp, "locked": self.locked}


class UserStore:
    def __init__(self, db: Database) -> None:
        self._users = db[USERS]
        self._credentials = db[CREDENTIALS]

    async def create(self, user: User, credentials: Credentials) -> None:
        """The credentials first: their insert is what makes the e-mail unique."""
        try:
            await self._credentials.insert_one(credentials.document())
        except DuplicateKeyError:
            raise EmailTaken from None
        await self._users.insert_one(user.document())

    async def by_id(self, user_id: str) -> User | None:
        doc = await self._users.find_one({"_id": text(user_id)})
        return User.from_document(doc) if doc else None

    async def credentials(self, email_key: str) -> Credentials | None:
        doc = await self._credentials.find_one({"_id": text(email_key)})
        return Credentials.from_document(doc) if doc else None

    async def by_ids(self, user_ids: list[str]) -> dict[str, User]:
        """The users that exist among user_ids, by id (for an administrator's list)."""
        cursor = self._users.find({"_id": {"$in": [text(user_id) for user_id in user_ids]}})
        return {doc["_id"]: User.from_document(doc) async for doc in cursor}

    async def list_credentials(self, prefix: str, after: str | None, limit: int) -> list[Credentials]:
        """Credentials in e-mail-key order whose key starts with prefix, past `after`: a
        range of `_id`, so paging costs the same on the first page and the thousandth."""
        bounds: dict[str, str] = {"$gte": text(prefix)}
        if after is not None and after >= prefix:
            bounds = {"$gt": text(after)}
        if prefix:
            bounds["$lt"] = prefix + "\U0010ffff"
        cursor = self._credentials.find({"_id": bounds}).sort("_id", 1).limit(limit)
        return [Credentials.from_document(doc) async for doc in cursor]

    async def update_profile(self, user_id: str, changes: dict[str, Any], now: datetime) -> User | None:
        """Set name/email fields; the updated user, or None if the user is gone."""
        doc = await self._users.find_one_and_update(
            {"_id": text(user_id)}, {"$set": {**changes, "updated_at": now}}, return_document=ReturnDocument.AFTER
        )
        return User.from_document(doc) if doc else None

    async def mark_verified(self, user_id: str, email_key: str, now: datetime) -> tuple[User, bool] | None:
        """Mark the user's e-mail verified if it is still email_key; (the user, whether it
        was unverified until now), or None if the user is gone or has another address."""
        doc = await self._users.find_one_and_update(
            {"_id": text(user_id), "email_key": text(email_key)},
            {"$set": {"email_verified": True, "updated_at": now}}, return_document=ReturnDocument.BEFORE,
        )
        if doc is None:
            return None
        was_verified = bool(doc.get("email_verified", False))
        doc.update(email_verified=True, updated_at=now)
        return User.from_document(doc), not was_verified

    async def move_credentials(self, old: Credentials, new_key: str, password_hash: str, stamp: str) -> Credentials:
        """Key the credentials by a new e-mail: insert under the new key (refused if taken),
        then drop the old key."""
        moved = Credentials(new_key, old.user_id, password_hash, stamp, old.locked)
        try:
            await self._credentials.insert_one(moved.document())
        except DuplicateKeyError:
            raise EmailTaken from None
        await self._credentials.delete_one({"_id": old.email_key})
        return moved

    async def set_credentials(self, email_key: str, changes: dict[str, Any]) -> None:
        await self._credentials.update_one({"_id": text(email_key)}, {"$set": changes})

    async def set_password_hash_if_unchanged(self, credentials: Credentials, new_hash: str) -> None:
        """Store a rehashed password, unless the credentials changed meanwhile."""
        await self._credentials.update_one(
            {"_id": credentials.email_key, "stamp": credentials.stamp},
            {"$set": {"password_hash": new_hash}},
        )

    async def delete(self, user: User) -> None:
        """The credentials first: from then on nobody can log in as this user."""
        await self._credentials.delete_one({"_id": user.email_key})
        await self._users.delete_one({"_id": user.user_id})
