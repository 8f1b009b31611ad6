"""Authorization codes (RFC 6749 §4.1), keyed by the SHA-256 of the code.

`authorization_codes`: `{_id: sha256(code), client_id, redirect_uri, scope, nonce,
code_challenge, user_id, stamp, browser_sid, auth_time, expires_at, used_by, replayed}`.
An unused code lives 60 s. Redeeming it is one conditional update (`used_by` still
unset, not expired) that names the login the redemption starts: of concurrent
redemptions exactly one matches. The used code is then kept for an hour, so that a
later use finds the login and ends it (RFC 6749 §4.1.2, RFC 9700 §4.2.4); a replay also
sets `replayed`, which the winner reads once its login is stored, so that the login
ends whichever of the two gets there first. A TTL index on `expires_at` purges codes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from idp.store.mongo import Database, ensure_ttl_index
from idp.store.records import StoredCode
from idp.store.values import text

CODES = "authorization_codes"

USED_CODE_KEPT = timedelta(hours=1)
"""How long a used code is remembered, to recognise its replay."""


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, CODES, "expires_at")


class CodeStore:
    def __init__(self, db: Database) -> None:
        self._codes = db[CODES]

    async def create(self, code: StoredCode) -> None:
        await self._codes.insert_one(code.document())

    async def get(self, code_hash: str, now: datetime) -> StoredCode | None:
        doc: dict[str, Any] | None = await self._codes.find_one({"_id": text(code_hash)})
        if doc is None or doc["expires_at"] <= now:
            return None
        return StoredCode.from_document(doc)

    async def claim(self, code_hash: str, sid: str, now: datetime) -> bool:
        """Claim the unused, unexpired code for the login `sid`; False if it was claimed
        before (or has expired)."""
        result = await self._codes.update_one(
            {"_id": text(code_hash), "used_by": None, "expires_at": {"$gt": now}},
            {"$set": {"used_by": sid, "expires_at": now + USED_CODE_KEPT}},
        )
        return result.modified_count == 1

    async def mark_replayed(self, code_hash: str) -> None:
        await self._codes.update_one({"_id": text(code_hash)}, {"$set": {"replayed": True}})

    async def was_replayed(self, code_hash: str) -> bool:
        doc = await self._codes.find_one({"_id": text(code_hash)}, {"replayed": 1})
        return bool(doc and doc.get("replayed"))
