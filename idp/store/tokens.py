"""Sessions (one per login), refresh tokens (stored as hashes) and revoked access tokens.

A session is the "family" of RFC 9700 §4.14.2: every refresh token descended from one
login carries its id, and so does every access token issued from them (`sid`). Ending a
session therefore ends all of them at once. A session document outlives its refresh
tokens by one access-token lifetime (`purge_at`), so that access tokens issued just
before the refresh tokens expired can still be checked against it; a missing session
means "ended" too (deleted user, purged).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enum import Enum

from pymongo.errors import DuplicateKeyError

from idp.store.mongo import Database, ensure_ttl_index
from idp.store.values import text

SESSIONS = "sessions"
REFRESH_TOKENS = "refresh_tokens"
REVOKED_ACCESS_TOKENS = "revoked_access_tokens"


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, SESSIONS, "purge_at")
    await db[SESSIONS].create_index("user_id", name="user_id")
    await ensure_ttl_index(db, REFRESH_TOKENS, "expires_at")
    await db[REFRESH_TOKENS].create_index("sid", name="sid")
    # A refresh token has at most one successor: rotation is the insert of that
    # successor, made atomic by this index (see rotate_refresh_token).
    await db[REFRESH_TOKENS].create_index("parent", unique=True, name="parent_unique")
    await ensure_ttl_index(db, REVOKED_ACCESS_TOKENS, "expires_at")


class Rotation(Enum):
    DONE = "done"
    LOST = "lost"  # the parent already has a successor: a replay
    ENDED = "ended"  # the login ended meanwhile: the successor is stored revoked


class TokenStore:
    def __init__(self, db: Database) -> None:
        self._sessions = db[SESSIONS]
        self._refresh = db[REFRESH_TOKENS]
        self._revoked = db[REVOKED_ACCESS_TOKENS]

    # -- sessions ------------------------------------------------------------------

    async def create_session(self, session: dict[str, Any]) -> None:
        await self._sessions.insert_one(dict(session))

    async def live_session(self, sid: str, now: datetime) -> dict[str, Any] | None:
        """The session if it exists and was not ended; its refresh expiry is not checked."""
        return await self._sessions.find_one(
            {"_id": text(sid), "ended_at": None, "purge_at": {"$gt": now}}
        )

    async def end_session(self, sid: str, now: datetime) -> None:
        """End one login (see _end_sessions)."""
        await self._end_sessions([text(sid)], now)

    async def end_user_sessions(self, user_id: str, now: datetime, keep_sid: str | None = None) -> int:
        """End every login of a user but keep_sid; return how many were ended."""
        query: dict[str, Any] = {"user_id": text(user_id), "ended_at": None}
        if keep_sid is not None:
            query["_id"] = {"$ne": text(keep_sid)}
        sids = [doc["_id"] async for doc in self._sessions.find(query, {"_id": 1})]
        if sids:
            await self._end_sessions(sids, now)
        return len(sids)

    async def _end_sessions(self, sids: list[str], now: datetime) -> None:
        """The sessions first, then their refresh tokens: rotate_refresh_token inserts
        first and checks the session after, so however the two interleave, a successor
        stored meanwhile ends up revoked."""
        await self._sessions.update_many(
            {"_id": {"$in": sids}, "ended_at": None}, {"$set": {"ended_at": now}}
        )
        await self._refresh.update_many({"sid": {"$in": sids}}, {"$set": {"revoked": True}})

    async def delete_user_tokens(self, user_id: str) -> None:
        """Forget every session and refresh token of a deleted user."""
        await self._sessions.delete_many({"user_id": text(user_id)})
        await self._refresh.delete_many({"user_id": user_id})

    # -- refresh tokens ------------------------------------------------------------

    async def store_first_refresh_token(self, token: dict[str, Any]) -> None:
        """The first refresh token of a login; its parent is the login itself."""
        await self._refresh.insert_one({**token, "parent": f"login:{token['sid']}"})

    async def rotate_refresh_token(self, parent_hash: str, token: dict[str, Any], now: datetime) -> Rotation:
        """Store the successor of parent_hash, unless it already has one.

        The unique index on `parent` makes the insert the atomic step: of concurrent
        rotations of one token exactly one inserts, on MongoDB and on servers whose
        find-and-modify is not atomic (FerretDB v1). The parent is then marked used.
        Inserting first and checking the session after closes the race with
        _end_sessions (which ends the session first and revokes tokens after): however
        the two interleave, the successor ends up revoked.
        """
        try:
            await self._refresh.insert_one({**token, "parent": text(parent_hash)})
        except DuplicateKeyError:
            return Rotation.LOST
        await self._refresh.update_one({"_id": parent_hash}, {"$set": {"used_at": now}})
        if await self.live_session(token["sid"], now) is not None:
            return Rotation.DONE
        await self._refresh.update_one({"_id": token["_id"]}, {"$set": {"revoked": True}})
        return Rotation.ENDED

    async def find_refresh_token(self, token_hash: str) -> dict[str, Any] | None:
        return await self._refresh.find_one({"_id": text(token_hash)})

    # -- access tokens -------------------------------------------------------------

    async def revoke_access_token(self, jti: str, expires_at: datetime) -> None:
        await self._revoked.update_one(
            {"_id": text(jti)}, {"$setOnInsert": {"expires_at": expires_at}}, upsert=True
        )

    async def access_token_revoked(self, jti: str) -> bool:
        return await self._revoked.find_one({"_id": text(jti)}, {"_id": 1}) is not None
