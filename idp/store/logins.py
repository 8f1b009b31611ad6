"""Logins and browser sessions, keyed for scale: every request reaches them by `_id`.

- `sessions`: one document per login (a refresh family, RFC 9700 §4.14.2), keyed by its
  id (`sid`): the rotation state of its refresh token (generation, the hash of the
  current secret, the hashes of the last secrets rotated away and when the last one
  was) and the access tokens revoked one by one. A refresh token carries the sid
  beside its secret, so finding it is an `_id` lookup. A rotation is one conditional
  update of this document (compare-and-set on the generation and the current hash), so
  it happens entirely or not at all. Ending a login deletes its document: a missing
  login is an ended one, for its refresh tokens and its access tokens (`sid`).
  Browser sessions live in the same collection under the client id BROWSER, so that
  the per-user cap, a password change, a deletion and a lock end them too; `get` never
  returns one and `get_browser` never returns anything else.
- `session_lists`: per user, `{_id: user_id, stamp, sids}`. A login appends its sid
  after storing itself and reads the credentials stamp in the same atomic update: a
  password change or deletion that completed meanwhile changed or removed the stamp,
  and the login ends itself. The list bounds the number of live logins.
- `revoked_access_tokens`: access tokens that belong to no login (client credentials),
  revoked one by one, keyed by `jti`.

The user_id index serves the rare paths (a password change, a deletion, a lock) that
end every login of a user; no request that a client makes per token uses it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DeleteOne, ReturnDocument

from idp.store.mongo import Database, ensure_ttl_index, upsert
from idp.store.records import BROWSER, BrowserSession, Enrolment, Login
from idp.store.values import text

LOGINS = "sessions"  # the collection's name predates the word "login"
LOGIN_LISTS = "session_lists"
REVOKED_ACCESS_TOKENS = "revoked_access_tokens"

USED_SECRETS_KEPT = 32
"""How many rotated-away refresh secrets a login remembers, to recognise their reuse."""


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, LOGINS, "purge_at")
    await db[LOGINS].create_index("user_id", name="user_id")
    await ensure_ttl_index(db, REVOKED_ACCESS_TOKENS, "expires_at")


class LoginStore:
    def __init__(self, db: Database) -> None:
        self._logins = db[LOGINS]
        self._lists = db[LOGIN_LISTS]
        self._revoked = db[REVOKED_ACCESS_TOKENS]

    # -- logins ------------------------------------------------------------------------

    async def create(self, login: Login) -> None:
        await self._logins.insert_one(login.document())

    async def get(self, sid: str, now: datetime) -> Login | None:
        """The login if it has not ended and is not past its purge time."""
        doc = await self._live(sid, now)
        if doc is None or doc["client_id"] == BROWSER:
            return None
        return Login.from_document(doc)

    async def rotate(self, login: Login, new_secret_hash: str, now: datetime, *, retriable: bool) -> bool:
        """One compare-and-set of the login document: True for exactly one of concurrent
        rotations of one generation, False once it was rotated or ended."""
        used = [*login.used_hashes, login.secret_hash][-USED_SECRETS_KEPT:]
        result = await self._logins.update_one(
            {"_id": text(login.sid), "generation": login.generation, "secret_hash": login.secret_hash},
            {"$set": {"generation": login.generation + 1, "secret_hash": new_secret_hash,
                      "used_hashes": used, "issued_at": now, "rotated_at": now if retriable else None}},
        )
        return result.modified_count == 1

    async def end(self, sid: str) -> bool:
        """End one login (or browser session); True if it was live."""
        result = await self._logins.delete_one({"_id": text(sid)})
        return result.deleted_count == 1

    async def end_many(self, sids: list[str]) -> None:
        """End several logins in one command, each by `_id`."""
        if sids:
            await self._logins.bulk_write([DeleteOne({"_id": text(sid)}) for sid in sids], ordered=False)

    async def end_all_of(self, user_id: str, keep_sid: str | None = None) -> int:
        """End every login of a user but keep_sid (a rare path: it uses the user_id index)."""
        query: dict[str, Any] = {"user_id": text(user_id)}
        if keep_sid is not None:
            query["_id"] = {"$ne": text(keep_sid)}
        result = await self._logins.delete_many(query)
        return int(result.deleted_count)

    async def count_of(self, user_id: str, now: datetime) -> int:
        """How many logins of a user are live (for an administrator; uses the user_id index)."""
        return int(await self._logins.count_documents({"user_id": text(user_id), "purge_at": {"$gt": now}}))

    async def of_user(self, user_id: str, now: datetime, limit: int = 500) -> list[Login | BrowserSession]:
        """The live logins and browser sessions of a user, newest first (the account page:
        a rare path, on the user_id index)."""
        cursor = self._logins.find({"user_id": text(user_id), "purge_at": {"$gt": now}}).limit(limit)
        found: list[Login | BrowserSession] = [
            BrowserSession.from_document(doc) if doc["client_id"] == BROWSER else Login.from_document(doc)
            async for doc in cursor
        ]
        live = [item for item in found if item.expires_at > now]
        return sorted(live, key=lambda item: item.created_at, reverse=True)

    async def _live(self, sid: str, now: datetime) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._logins.find_one({"_id": text(sid)})
        if doc is None or doc["purge_at"] <= now:
            return None
        return doc

    # -- browser sessions ----------------------------------------------------------------

    async def create_browser(self, session: BrowserSession) -> None:
        await self._logins.insert_one(session.document())

    async def get_browser(self, sid: str, now: datetime) -> BrowserSession | None:
        doc = await self._live(sid, now)
        if doc is None or doc["client_id"] != BROWSER:
            return None
        return BrowserSession.from_document(doc)

    async def note_started(self, browser_sid: str, sid: str) -> bool:
        """Record on a browser session a login that one of its codes started, so that
        logging out of the browser ends it too; False if the browser session has ended."""
        result = await self._logins.update_one({"_id": text(browser_sid)}, {"$addToSet": {"started": sid}})
        return result.matched_count == 1

    async def hand_over_started(self, from_sid: str, to_sid: str) -> None:
        """A browser session replaced by a new one of the same person hands it the logins
        it started, so that logging out still ends them; then it ends. Taken off the
        old document and ended in one step, so that a login noted meanwhile finds the
        old session gone and ends itself rather than being left out."""
        doc = await self._logins.find_one_and_delete({"_id": text(from_sid)}, {"started": 1})
        started = doc.get("started", []) if doc else []
        if started:
            await self._logins.update_one({"_id": text(to_sid)}, {"$addToSet": {"started": {"$each": started}}})

    async def end_browser_session(self, browser_sid: str) -> None:
        """End a browser session and the logins its codes started."""
        doc = await self._logins.find_one_and_delete({"_id": text(browser_sid)}, {"started": 1})
        if doc is not None:
            # ended first: a login noted after this finds the session gone and ends itself
            await self.end_many(list(doc.get("started", ())))

    # -- access tokens -------------------------------------------------------------------

    async def revoke_access_token(self, sid: str | None, jti: str, expires_at: datetime) -> None:
        """Refuse one access token from now on: on its login, or on its own if it has none."""
        if sid is not None:
            await self._logins.update_one({"_id": text(sid)}, {"$addToSet": {"revoked_jtis": text(jti)}})
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
        """Add a stored login to its user's list, keeping the newest `limit`, and read the
        credentials stamp, in one atomic update; returns the stamp and the logins the
        update dropped from the list (oldest first), to be ended."""
        before = await self._lists.find_one_and_update(
            {"_id": text(user_id)},
            {"$push": {"sids": {"$each": [sid], "$slice": -limit}}},
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            return Enrolment(None, ())
        sids = [*before["sids"], sid]
        return Enrolment(before["stamp"], tuple(sids[:-limit]) if len(sids) > limit else ())

    async def restamp(self, user_id: str, stamp: str, keep_sid: str | None) -> None:
        """New credentials: logins still being made with the old ones will end themselves."""
        await self._lists.update_one(
            {"_id": text(user_id)},
            {"$set": {"stamp": stamp, "sids": [keep_sid] if keep_sid else []}},
        )

    async def close_list(self, user_id: str) -> None:
        await self._lists.delete_one({"_id": text(user_id)})
