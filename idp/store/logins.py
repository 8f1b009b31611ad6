"""Logins, keyed for scale: every request reaches these collections by `_id`.

- `sessions`: one document per login (the "family" of RFC 9700 §4.14.2), keyed by its
  id (`sid`). It holds the rotation state of the login's refresh token (generation, the
  hash of the current secret, the hashes of the last secrets rotated away) and the
  access tokens revoked one by one. A refresh token carries the sid beside its secret,
  so finding it is an `_id` lookup. Ending a login deletes its document: a missing
  session is an ended one, for the refresh tokens and for the access tokens (`sid`).
- `rotations`: one claim per rotation, `{_id: "<sid>.<generation>"}`. Inserting it is the
  atomic step of a rotation: of concurrent rotations of one generation exactly one
  inserts, on MongoDB and on servers whose find-and-modify is not atomic (FerretDB v1).
  Claims matter only while rotations race, so they expire within the hour.
- `session_lists`: per user, `{_id: user_id, stamp, sids}`. A login appends its sid
  after storing its session and reads back the credentials stamp in the same command:
  a password change or deletion that completed meanwhile changed or removed the
  stamp, and the login ends itself. The list bounds the number of live logins. Its
  writes are also serialised per user within the process (DocumentLocks: FerretDB
  can lose one of two concurrent updates of a document).
- `revoked_access_tokens`: access tokens that belong to no login (client credentials),
  revoked one by one, keyed by `jti`.

The user_id index serves the rare paths (a password change, a deletion, a lock) that
end every login of a user; no request that a client makes per token uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import DeleteOne, ReturnDocument

from idp.store.mongo import Database, DocumentLocks, ensure_ttl_index, insert_claim, upsert
from idp.store.values import text

SESSIONS = "sessions"
ROTATIONS = "rotations"
SESSION_LISTS = "session_lists"
REVOKED_ACCESS_TOKENS = "revoked_access_tokens"

USED_SECRETS_KEPT = 32
"""How many rotated-away refresh secrets a login remembers, to recognise their reuse."""

CLAIM_LIFETIME = timedelta(hours=1)


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, SESSIONS, "purge_at")
    await db[SESSIONS].create_index("user_id", name="user_id")
    await ensure_ttl_index(db, ROTATIONS, "expires_at")
    await ensure_ttl_index(db, REVOKED_ACCESS_TOKENS, "expires_at")


@dataclass(frozen=True)
class Session:
    """One login: who, through which client, with what, until when, and its refresh state."""

    sid: str
    user_id: str
    client_id: str
    scope: str
    created_at: datetime
    issued_at: datetime  # of the current refresh secret
    expires_at: datetime  # the refresh tokens' absolute expiry
    purge_at: datetime  # expires_at + one access-token lifetime
    generation: int
    secret_hash: str
    used_hashes: tuple[str, ...]
    revoked_jtis: frozenset[str]
    # a browser session only (idp.oauth.browser): the credentials stamp its password
    # check saw, which the codes it issues carry on to the logins they start
    stamp: str | None = None
    # a browser session only: how the person signed in (RFC 8176 amr values)
    amr: tuple[str, ...] = ()

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Session:
        return cls(
            sid=doc["_id"],
            user_id=doc["user_id"],
            client_id=doc["client_id"],
            scope=doc["scope"],
            created_at=doc["created_at"],
            issued_at=doc["issued_at"],
            expires_at=doc["expires_at"],
            purge_at=doc["purge_at"],
            generation=doc["generation"],
            secret_hash=doc["secret_hash"],
            used_hashes=tuple(doc.get("used_hashes", ())),
            revoked_jtis=frozenset(doc.get("revoked_jtis", ())),
            stamp=doc.get("stamp"),
            amr=tuple(doc.get("amr", ())),
        )

    def document(self) -> dict[str, Any]:
        doc = {
            "_id": self.sid,
            "user_id": self.user_id,
            "client_id": self.client_id,
            "scope": self.scope,
            "created_at": self.created_at,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "purge_at": self.purge_at,
            "generation": self.generation,
            "secret_hash": self.secret_hash,
            "used_hashes": list(self.used_hashes),
            "revoked_jtis": sorted(self.revoked_jtis),
        }
        if self.stamp is not None:
            doc["stamp"] = self.stamp
        if self.amr:
            doc["amr"] = list(self.amr)
        return doc


@dataclass(frozen=True)
class Enrolment:
    """What a login learns when it adds itself to its user's list."""

    stamp: str | None  # None: the user is gone
    evicted: tuple[str, ...]  # the oldest logins beyond the limit, now to be ended


class SessionStore:
    def __init__(self, db: Database) -> None:
        self._sessions = db[SESSIONS]
        self._rotations = db[ROTATIONS]
        self._lists = db[SESSION_LISTS]
        self._revoked = db[REVOKED_ACCESS_TOKENS]
        self._list_locks = DocumentLocks()

    # -- logins ------------------------------------------------------------------------

    async def create(self, session: Session) -> None:
        await self._sessions.insert_one(session.document())

    async def get(self, sid: str, now: datetime) -> Session | None:
        """The login if it has not ended and is not past its purge time."""
        doc = await self._sessions.find_one({"_id": text(sid)})
        if doc is None or doc["purge_at"] <= now:
            return None
        return Session.from_document(doc)

    async def end(self, sid: str) -> bool:
        """End one login; True if it was live."""
        result = await self._sessions.delete_one({"_id": text(sid)})
        return result.deleted_count == 1

    async def end_many(self, sids: list[str]) -> None:
        """End several logins in one command, each by `_id`."""
        if sids:
            await self._sessions.bulk_write([DeleteOne({"_id": text(sid)}) for sid in sids], ordered=False)

    async def end_all_of(self, user_id: str, keep_sid: str | None = None) -> int:
        """End every login of a user but keep_sid (a rare path: it uses the user_id index)."""
        query: dict[str, Any] = {"user_id": text(user_id)}
        if keep_sid is not None:
            query["_id"] = {"$ne": text(keep_sid)}
        result = await self._sessions.delete_many(query)
        return result.deleted_count

    async def list_of(self, user_id: str, now: datetime, limit: int = 500) -> list[Session]:
        """The live logins of a user, newest first (the account page; uses the user_id index)."""
        cursor = self._sessions.find({"user_id": text(user_id), "purge_at": {"$gt": now}})
        sessions = [Session.from_document(doc) async for doc in cursor.limit(limit)]
        return sorted((s for s in sessions if s.expires_at > now), key=lambda s: s.created_at, reverse=True)

    async def count_of(self, user_id: str, now: datetime) -> int:
        """How many logins of a user are live (for an administrator; uses the user_id index)."""
        return await self._sessions.count_documents({"user_id": text(user_id), "purge_at": {"$gt": now}})

    # -- browser sessions ----------------------------------------------------------------

    async def note_started(self, browser_sid: str, sid: str) -> bool:
        """Record on a browser session a login that one of its codes started, so that
        logging out of the browser ends it too; False if the browser session has ended."""
        result = await self._sessions.update_one({"_id": text(browser_sid)}, {"$addToSet": {"started": sid}})
        return result.matched_count == 1

    async def hand_over_started(self, from_sid: str, to_sid: str) -> None:
        """A browser session replaced by a new one of the same person (a fresh password
        check for prompt=login or max_age) hands it the logins it started, so that logging
        out still ends them; then it ends."""
        doc = await self._sessions.find_one({"_id": text(from_sid)}, {"started": 1})
        started = doc.get("started", []) if doc else []
        if started:
            await self._sessions.update_one({"_id": text(to_sid)}, {"$addToSet": {"started": {"$each": started}}})
        await self.end(from_sid)

    async def end_browser_session(self, browser_sid: str) -> None:
        """End a browser session and the logins its codes started."""
        doc = await self._sessions.find_one({"_id": text(browser_sid)}, {"started": 1})
        if doc is None:
            return
        # ended first: a login noted after this read finds the session gone and ends itself
        await self.end_many([browser_sid, *doc.get("started", ())])

    # -- rotation ------------------------------------------------------------------------

    async def claim_rotation(self, session: Session, now: datetime) -> bool:
        """Claim the next generation of a login; False if another request claimed it."""
        claim_id = f"{session.sid}.{session.generation + 1}"
        return await insert_claim(self._rotations, claim_id, now + CLAIM_LIFETIME)

    async def advance(self, session: Session, secret_hash: str, now: datetime) -> None:
        """Make secret_hash the login's current refresh secret (after claim_rotation won).

        Only the winner of a claim writes, so the write needs no condition; on an ended
        (deleted) login it matches nothing and the login stays ended.
        """
        used = [*session.used_hashes, session.secret_hash][-USED_SECRETS_KEPT:]
        await self._sessions.update_one(
            {"_id": session.sid},
            {"$set": {"generation": session.generation + 1, "secret_hash": secret_hash,
                      "used_hashes": used, "issued_at": now}},
        )

    # -- access tokens -------------------------------------------------------------------

    async def revoke_access_token(self, sid: str | None, jti: str, expires_at: datetime) -> None:
        """Refuse one access token from now on: on its login, or on its own if it has none."""
        if sid is not None:
            await self._sessions.update_one({"_id": text(sid)}, {"$addToSet": {"revoked_jtis": text(jti)}})
        else:
            await upsert(lambda: self._revoked.update_one(
                {"_id": text(jti)}, {"$setOnInsert": {"expires_at": expires_at}}, upsert=True
            ))

    async def access_token_revoked(self, jti: str) -> bool:
        """For access tokens without a login (client credentials)."""
        return await self._revoked.find_one({"_id": text(jti)}, {"_id": 1}) is not None

    # -- the per-user list ---------------------------------------------------------------

    async def open_list(self, user_id: str, stamp: str) -> None:
        """A new user's empty list, carrying the stamp of their first credentials."""
        await self._lists.insert_one({"_id": user_id, "stamp": stamp, "sids": []})

    async def enrol(self, user_id: str, sid: str, limit: int) -> Enrolment:
        """Add a stored login to its user's list; returns the current stamp and the
        logins that now exceed `limit` (oldest first), already taken off the list."""
        async with self._list_locks.holding(user_id):
            doc = await self._lists.find_one_and_update(
                {"_id": text(user_id)}, {"$push": {"sids": sid}}, return_document=ReturnDocument.AFTER
            )
            if doc is None:
                return Enrolment(None, ())
            evicted = tuple(doc["sids"][:-limit]) if len(doc["sids"]) > limit else ()
            if evicted:
                await self._lists.update_one({"_id": user_id}, {"$pullAll": {"sids": list(evicted)}})
        return Enrolment(doc["stamp"], evicted)

    async def restamp(self, user_id: str, stamp: str, keep_sid: str | None) -> None:
        """New credentials: logins still being made with the old ones will end themselves."""
        async with self._list_locks.holding(user_id):
            await self._lists.update_one(
                {"_id": text(user_id)},
                {"$set": {"stamp": stamp, "sids": [keep_sid] if keep_sid else []}},
            )

    async def close_list(self, user_id: str) -> None:
        await self._lists.delete_one({"_id": text(user_id)})
