"""Password-reset and e-mail verification tokens, one document each, keyed by the token's
public id.

A token is `<id>.<secret>`: the id finds the document by `_id`, the secret proves
possession; only the secret's SHA-256 is stored (it is 256 random bits, so a fast hash
is enough). Using a token deletes its document, matching on the hash too: of concurrent
uses exactly one deletes it, on every server. Expiry is checked by the service; the TTL
index only purges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from idp.store.mongo import Database, ensure_ttl_index
from idp.store.values import text

COLLECTION = "recovery_tokens"
RESET, VERIFY = "reset", "verify"


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, COLLECTION, "expires_at")


@dataclass(frozen=True)
class RecoveryToken:
    token_id: str
    kind: str  # RESET or VERIFY
    user_id: str
    email_key: str  # the address the link was sent to
    secret_hash: str
    expires_at: datetime
    stamp: str | None = None  # a reset link: the credentials stamp when it was made

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> RecoveryToken:
        return cls(doc["_id"], doc["kind"], doc["user_id"], doc["email_key"], doc["secret_hash"],
                   doc["expires_at"], doc.get("stamp"))

    def document(self) -> dict[str, Any]:
        doc = {"_id": self.token_id, "kind": self.kind, "user_id": self.user_id, "email_key": self.email_key,
               "secret_hash": self.secret_hash, "expires_at": self.expires_at}
        if self.stamp is not None:
            doc["stamp"] = self.stamp
        return doc


class RecoveryTokenStore:
    def __init__(self, db: Database) -> None:
        self._tokens = db[COLLECTION]

    async def add(self, token: RecoveryToken) -> None:
        await self._tokens.insert_one(token.document())

    async def get(self, token_id: str) -> RecoveryToken | None:
        doc = await self._tokens.find_one({"_id": text(token_id)})
        return RecoveryToken.from_document(doc) if doc else None

    async def use(self, token: RecoveryToken) -> bool:
        """Use the token up; True for the one caller that did."""
        result = await self._tokens.delete_one({"_id": text(token.token_id), "secret_hash": token.secret_hash})
        return result.deleted_count == 1
