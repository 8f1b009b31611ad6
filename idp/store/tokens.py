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

from pymongo import ReturnDocument

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
    await ensure_ttl_index(db, REVOKED_ACCESS_TOKENS, "expires_at")


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
        """End one login: the session first, then its refresh tokens (see store_refresh_token)."""
        await self._sessions.update_one(
            {"_id": text(sid), "ended_at": None}, {"$set": {"ended_at": now}}
        )
        await self._refresh.update_many({"sid": sid}, {"$set": {"revoked": True}})

    async def end_user_sessions(self, user_id: str, now: datetime, keep_sid: str | None = None) -> int:
        """End every login of a user but keep_sid; return how many were ended."""
        query: dict[str, Any] = {"user_id": text(user_id), "ended_at": None}
        if keep_sid is not None:
            query["_id"] = {"$ne": text(keep_sid)}
        sids = [doc["_id"] async for doc in self._sessions.find(query, {"_id": 1})]
        for sid in sids:
            await self.end_session(sid, now)
        return len(sids)

    async def delete_user_tokens(self, user_id: str) -> None:
        """Forget every session and refresh token of a deleted user."""
        await self._sessions.delete_many({"user_id": text(user_id)})
        await self._refresh.delete_many({"user_id": user_id})

    # -- refresh tokens ------------------------------------------------------------

    async def store_refresh_token(self, token: dict[str, Any], now: datetime) -> bool:
        """Insert a refresh token; False (and the token revoked) if its session has ended.

        Inserting first and checking the session after closes the race with
        end_session, which ends the session first and revokes tokens after: whichever
        order the two interleave in, the new token ends up revoked or refused.
        """
        await self._refresh.insert_one(dict(token))
        if await self.live_session(token["sid"], now) is not None:
            return True
        await self._refresh.update_one({"_id": token["_id"]}, {"$set": {"revoked": True}})
        return False

    async def find_refresh_token(self, token_hash: str) -> dict[str, Any] | None:
        return await self._refresh.find_one({"_id": text(token_hash)})

    async def claim_refresh_token(self, token_hash: str, now: datetime) -> dict[str, Any] | None:
        """Mark an unused, unrevoked, unexpired token used; None if another request won."""
        return await self._refresh.find_one_and_update(
            {"_id": text(token_hash), "used_at": None, "revoked": False, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
            return_document=ReturnDocument.AFTER,
        )

    # -- access tokens -------------------------------------------------------------

    async def revoke_access_token(self, jti: str, expires_at: datetime) -> None:
        await self._revoked.update_one(
            {"_id": text(jti)}, {"$setOnInsert": {"expires_at": expires_at}}, upsert=True
        )

    async def access_token_revoked(self, jti: str) -> bool:
        return await self._revoked.find_one({"_id": text(jti)}, {"_id": 1}) is not None
