"""Second factors and passkeys, and the short-lived records of their ceremonies.

- `factors`, keyed by the user id (every read and write is by `_id`):
  `{_id, totp?: {sealed, confirmed, last_step, since}, recovery: [sha256...],
  passkeys: [{cid, public_key, sign_count, name, added_at, last_used_at}]}`.
  The authenticator key is sealed (idp.accounts.sealing); recovery codes are stored as
  SHA-256 (they are random, so a fast hash suffices). A code is accepted by a
  conditional update (`last_step` below the code's time step; a recovery code still in
  the list): of two requests with one code, one matches and the other finds nothing.
- `webauthn_challenges`, keyed by an unguessable id: one challenge per ceremony,
  bound to who asked for it, deleted as it is read (single use), expiring in minutes.
- `second_steps`, keyed by an unguessable id: a sign-in whose password was right and
  whose second factor is awaited.
- `recent_auth`, keyed by the browser session's id: when that browser last gave a
  password or a passkey, for changes that ask for one within the last minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from idp.store.mongo import Database, ensure_ttl_index
from idp.store.values import text

FACTORS = "factors"
CHALLENGES = "webauthn_challenges"
SECOND_STEPS = "second_steps"
RECENT_AUTH = "recent_auth"


async def ensure_indexes(db: Database) -> None:
    """`factors` is reached by `_id` only; the others expire."""
    for collection in (CHALLENGES, SECOND_STEPS, RECENT_AUTH):
        await ensure_ttl_index(db, collection, "expires_at")


@dataclass(frozen=True)
class Totp:
    sealed: str
    confirmed: bool
    last_step: int
    since: datetime


@dataclass(frozen=True)
class StoredPasskey:
    cid: str  # the credential id, base64url
    public_key: bytes  # COSE
    sign_count: int
    name: str
    added_at: datetime
    last_used_at: datetime | None = None

    def document(self) -> dict[str, Any]:
        return {"cid": self.cid, "public_key": self.public_key, "sign_count": self.sign_count,
                "name": self.name, "added_at": self.added_at, "last_used_at": self.last_used_at}

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> StoredPasskey:
        return cls(doc["cid"], bytes(doc["public_key"]), doc["sign_count"], doc["name"], doc["added_at"],
                   doc.get("last_used_at"))


@dataclass(frozen=True)
class FactorRecord:
    user_id: str
    totp: Totp | None = None
    recovery_left: int = 0
    passkeys: tuple[StoredPasskey, ...] = ()

    @property
    def totp_on(self) -> bool:
        return self.totp is not None and self.totp.confirmed

    @property
    def second_factor(self) -> bool:
        """What makes a password alone not enough to sign in."""
        return self.totp_on or bool(self.passkeys)

    def passkey(self, cid: str) -> StoredPasskey | None:
        return next((p for p in self.passkeys if p.cid == cid), None)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> FactorRecord:
        totp = doc.get("totp")
        return cls(
            user_id=doc["_id"],
            totp=Totp(totp["sealed"], totp["confirmed"], totp["last_step"], totp["since"]) if totp else None,
            recovery_left=len(doc.get("recovery", ())),
            passkeys=tuple(StoredPasskey.from_document(p) for p in doc.get("passkeys", ())),
        )


@dataclass(frozen=True)
class Challenge:
    challenge: bytes
    purpose: str
    binding: str
    user_id: str | None
    expires_at: datetime


@dataclass(frozen=True)
class PendingSecondStep:
    step_id: str
    user_id: str
    stamp: str
    email_key: str
    expires_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


class FactorStore:
    def __init__(self, db: Database) -> None:
        self._factors = db[FACTORS]
        self._challenges = db[CHALLENGES]
        self._steps = db[SECOND_STEPS]
        self._recent = db[RECENT_AUTH]

    async def get(self, user_id: str) -> FactorRecord | None:
        doc = await self._factors.find_one({"_id": text(user_id)})
        return FactorRecord.from_document(doc) if doc else None

    # -- authenticator app ------------------------------------------------------------------

    async def set_pending_totp(self, user_id: str, sealed: str, now: datetime) -> bool:
        """Store a new key awaiting its first code; False if an app is already on."""
        current = await self.get(user_id)
        if current is not None and current.totp_on:
            return False
        await self._factors.update_one(
            {"_id": text(user_id)},
            {"$set": {"totp": {"sealed": sealed, "confirmed": False, "last_step": 0, "since": now}}},
            upsert=True,
        )
        return True

    async def confirm_totp(self, user_id: str, sealed: str, step: int, recovery: list[str]) -> bool:
        """Switch on the pending key (the one the person saw: `sealed`) with its first code."""
        result = await self._factors.update_one(
            {"_id": text(user_id), "totp.sealed": sealed, "totp.confirmed": False},
            {"$set": {"totp.confirmed": True, "totp.last_step": step, "recovery": recovery}},
        )
        return result.modified_count == 1

    async def accept_step(self, user_id: str, step: int) -> bool:
        """Accept a code of time step `step` unless this or a later step was accepted."""
        result = await self._factors.update_one(
            {"_id": text(user_id), "totp.confirmed": True, "totp.last_step": {"$lt": step}},
            {"$set": {"totp.last_step": step}},
        )
        return result.modified_count == 1

    async def remove_totp(self, user_id: str) -> bool:
        result = await self._factors.update_one(
            {"_id": text(user_id), "totp": {"$exists": True}}, {"$unset": {"totp": "", "recovery": ""}})
        return result.modified_count == 1

    async def set_recovery(self, user_id: str, recovery: list[str]) -> bool:
        result = await self._factors.update_one(
            {"_id": text(user_id), "totp.confirmed": True}, {"$set": {"recovery": recovery}})
        return result.matched_count == 1

    async def use_recovery(self, user_id: str, code_hash: str) -> bool:
        """Take one recovery code out of the list; True for the one request that did."""
        result = await self._factors.update_one(
            {"_id": text(user_id), "recovery": text(code_hash)}, {"$pull": {"recovery": code_hash}})
        return result.modified_count == 1

    # -- passkeys ---------------------------------------------------------------------------

    async def add_passkey(self, user_id: str, passkey: StoredPasskey) -> bool:
        """Add a passkey; False if this credential is already the user's (the upsert then
        meets the existing `_id` and is refused)."""
        try:
            await self._factors.update_one(
                {"_id": text(user_id), "passkeys.cid": {"$ne": passkey.cid}},
                {"$push": {"passkeys": passkey.document()}}, upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def remove_passkey(self, user_id: str, cid: str) -> bool:
        result = await self._factors.update_one(
            {"_id": text(user_id), "passkeys.cid": text(cid)}, {"$pull": {"passkeys": {"cid": cid}}})
        return result.modified_count == 1

    async def advance_counter(self, user_id: str, cid: str, seen: int, new: int, now: datetime) -> bool:
        """Store the signature counter a verified assertion reported, if no other
        assertion moved it since `seen` was read."""
        result = await self._factors.update_one(
            {"_id": text(user_id), "passkeys": {"$elemMatch": {"cid": text(cid), "sign_count": seen}}},
            {"$set": {"passkeys.$.sign_count": new, "passkeys.$.last_used_at": now}},
        )
        return result.matched_count == 1

    async def remove_all(self, user_id: str) -> FactorRecord | None:
        """Forget every factor of a user; what was there (None: nothing)."""
        doc = await self._factors.find_one_and_delete({"_id": text(user_id)})
        return FactorRecord.from_document(doc) if doc else None

    # -- ceremonies -------------------------------------------------------------------------

    async def create_challenge(self, challenge_id: str, challenge: Challenge) -> None:
        await self._challenges.insert_one({
            "_id": challenge_id, "challenge": challenge.challenge, "purpose": challenge.purpose,
            "binding": challenge.binding, "user_id": challenge.user_id, "expires_at": challenge.expires_at,
        })

    async def take_challenge(self, challenge_id: str, now: datetime) -> Challenge | None:
        """The challenge, deleted as it is read: of two requests with one id, one gets it."""
        doc = await self._challenges.find_one_and_delete({"_id": text(challenge_id)})
        if doc is None or doc["expires_at"] <= now:
            return None
        return Challenge(bytes(doc["challenge"]), doc["purpose"], doc["binding"], doc.get("user_id"),
                         doc["expires_at"])

    async def create_second_step(self, step: PendingSecondStep) -> None:
        await self._steps.insert_one({
            "_id": step.step_id, "user_id": step.user_id, "stamp": step.stamp, "email_key": step.email_key,
            "expires_at": step.expires_at, "extra": step.extra,
        })

    async def second_step(self, step_id: str, now: datetime) -> PendingSecondStep | None:
        doc = await self._steps.find_one({"_id": text(step_id)})
        if doc is None or doc["expires_at"] <= now:
            return None
        return PendingSecondStep(doc["_id"], doc["user_id"], doc["stamp"], doc["email_key"],
                                 doc["expires_at"], doc.get("extra", {}))

    async def finish_second_step(self, step_id: str) -> bool:
        """End a pending step; True for the one request that ended it (single use)."""
        result = await self._steps.delete_one({"_id": text(step_id)})
        return result.deleted_count == 1

    async def note_recent_auth(self, browser_sid: str, at: datetime, expires_at: datetime) -> None:
        await self._recent.update_one({"_id": text(browser_sid)},
                                      {"$set": {"at": at, "expires_at": expires_at}}, upsert=True)

    async def recent_auth(self, browser_sid: str) -> datetime | None:
        doc = await self._recent.find_one({"_id": text(browser_sid)})
        return None if doc is None else doc["at"]
