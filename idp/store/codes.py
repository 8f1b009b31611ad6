"""Authorization codes (RFC 6749 §4.1), keyed by the SHA-256 of the code.

- `authorization_codes`: `{_id: sha256(code), client_id, redirect_uri, scope, nonce,
  code_challenge, user_id, stamp, browser_sid, auth_time, expires_at}`. A code lives 60 s;
  every read checks `expires_at`, and a TTL index purges what is left.
- Redeeming a code inserts a claim `{_id: "code.<hash>", sid}` into `rotations` (see
  idp.store.sessions): of concurrent redemptions exactly one inserts, on every server
  (FerretDB v1 has no atomic find-and-modify, but an insert under a unique `_id` is
  atomic). The claim names the login the redemption starts, so a later use of the code
  finds it and ends it (RFC 6749 §4.1.2, RFC 9700 §4.2.4); a replay also leaves a mark
  `{_id: "code.<hash>.replayed"}` that the winner reads once its login is stored, so the
  login ends whichever of the two gets there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idp.store.mongo import Database, ensure_ttl_index, insert_claim
from idp.store.logins import CLAIM_LIFETIME, ROTATIONS
from idp.store.values import text

CODES = "authorization_codes"


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, CODES, "expires_at")


@dataclass(frozen=True)
class StoredCode:
    code_hash: str
    client_id: str
    redirect_uri: str | None  # as the authorization request sent it (None: omitted)
    scope: str
    nonce: str | None
    code_challenge: str
    user_id: str
    stamp: str | None
    browser_sid: str
    auth_time: int
    expires_at: datetime
    amr: tuple[str, ...] = ()

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> StoredCode:
        return cls(
            code_hash=doc["_id"], client_id=doc["client_id"], redirect_uri=doc.get("redirect_uri"),
            scope=doc["scope"], nonce=doc.get("nonce"), code_challenge=doc["code_challenge"],
            user_id=doc["user_id"], stamp=doc.get("stamp"), browser_sid=doc["browser_sid"],
            auth_time=doc["auth_time"], expires_at=doc["expires_at"], amr=tuple(doc.get("amr", ())),
        )

    def document(self) -> dict[str, Any]:
        return {
            "_id": self.code_hash, "client_id": self.client_id, "redirect_uri": self.redirect_uri,
            "scope": self.scope, "nonce": self.nonce, "code_challenge": self.code_challenge,
            "user_id": self.user_id, "stamp": self.stamp, "browser_sid": self.browser_sid,
            "auth_time": self.auth_time, "expires_at": self.expires_at, "amr": list(self.amr),
        }


class CodeStore:
    def __init__(self, db: Database) -> None:
        self._codes = db[CODES]
        self._claims = db[ROTATIONS]

    async def create(self, code: StoredCode) -> None:
        await self._codes.insert_one(code.document())

    async def get(self, code_hash: str, now: datetime) -> StoredCode | None:
        doc = await self._codes.find_one({"_id": text(code_hash)})
        if doc is None or doc["expires_at"] <= now:
            return None
        return StoredCode.from_document(doc)

    async def delete(self, code_hash: str) -> None:
        await self._codes.delete_one({"_id": text(code_hash)})

    async def claim(self, code_hash: str, sid: str, now: datetime) -> bool:
        """Claim the code for the login `sid`; False if it was claimed before."""
        return await insert_claim(self._claims, f"code.{code_hash}", now + CLAIM_LIFETIME, sid=sid)

    async def claimed_by(self, code_hash: str) -> str | None:
        """The login that the first use of the code started, if it was used."""
        doc = await self._claims.find_one({"_id": text(f"code.{code_hash}")})
        return None if doc is None else doc["sid"]

    async def mark_replayed(self, code_hash: str, now: datetime) -> None:
        await insert_claim(self._claims, f"code.{code_hash}.replayed", now + CLAIM_LIFETIME)

    async def was_replayed(self, code_hash: str) -> bool:
        return await self._claims.find_one({"_id": f"code.{code_hash}.replayed"}, {"_id": 1}) is not None
