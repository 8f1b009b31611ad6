"""Upgrades of stored data from one shape to the next, run at start, each once.

`meta.schema.version` says which shape the database has. Version 2 (keyed by `_id` for
scale) moved password hashes from `users` to `credentials`, gave each user a session
list, and replaced the refresh-token documents by the login documents: logins made
before the upgrade end with it (people sign in again), accounts and passwords stay.
"""

from __future__ import annotations

import logging

from pymongo.errors import OperationFailure

from idp.store.mongo import Database, upsert
from idp.store.logins import LOGIN_LISTS as SESSION_LISTS, LOGINS as SESSIONS
from idp.store.throttle import COLLECTION as THROTTLE
from idp.store.users import CREDENTIALS, USERS, new_stamp

log = logging.getLogger(__name__)

META = "meta"
CURRENT = 2


async def migrate(db: Database) -> None:
    meta = await db[META].find_one({"_id": "schema"})
    version = meta["version"] if meta else 1
    if version >= CURRENT:
        return
    if await db[USERS].find_one({}, {"_id": 1}) is not None:
        await _to_version_2(db)
    await upsert(lambda: db[META].replace_one({"_id": "schema"}, {"_id": "schema", "version": CURRENT}, upsert=True))


async def _to_version_2(db: Database) -> None:
    log.warning("upgrading the database to keyed logins: every login made before now has ended")
    moved = 0
    async for user in db[USERS].find({"password_hash": {"$exists": True}}):
        stamp = new_stamp()
        await db[CREDENTIALS].replace_one({"_id": user["email_key"]}, {
            "_id": user["email_key"], "user_id": user["_id"], "password_hash": user["password_hash"],
            "stamp": stamp, "locked": False,
        }, upsert=True)
        await db[SESSION_LISTS].replace_one({"_id": user["_id"]}, {"_id": user["_id"], "stamp": stamp, "sids": []},
                                            upsert=True)
        await db[USERS].update_one({"_id": user["_id"]}, {"$unset": {"password_hash": ""}})
        moved += 1
    await db[SESSIONS].delete_many({"secret_hash": {"$exists": False}})
    await db.drop_collection("refresh_tokens")
    await db[THROTTLE].delete_many({"key": {"$exists": True}})
    for collection, index in ((USERS, "email_key_unique"), (THROTTLE, "key_at")):
        try:
            await db[collection].drop_index(index)
        except OperationFailure:
            pass  # never created, or already gone
    log.warning("upgraded %d accounts", moved)
