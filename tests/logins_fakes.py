"""In-memory fakes of the store Protocols (idp.store.protocols), for the lifecycle tests.

Each method yields to the event loop before it acts, as a database round trip would, so
that concurrent tasks interleave between their reads and their writes; the act itself
(the compare and the set) happens in one step, which is the promise the Protocol makes.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

from idp.store.records import BrowserSession, Enrolment, Login, StoredCode

USED_SECRETS_KEPT = 32


class FakeLogins:
    def __init__(self) -> None:
        self.logins: dict[str, Login] = {}
        self.browsers: dict[str, BrowserSession] = {}
        self.started: dict[str, set[str]] = {}
        self.lists: dict[str, tuple[str, list[str]]] = {}
        self.revoked: set[str] = set()

    async def create(self, login: Login) -> None:
        await asyncio.sleep(0)
        assert login.sid not in self.logins
        self.logins[login.sid] = login

    async def get(self, sid: str, now: datetime) -> Login | None:
        await asyncio.sleep(0)
        login = self.logins.get(sid)
        return login if login is not None and login.purge_at > now else None

    async def rotate(self, login: Login, new_secret_hash: str, now: datetime, *, retriable: bool) -> bool:
        await asyncio.sleep(0)
        stored = self.logins.get(login.sid)
        if stored is None or stored.generation != login.generation or stored.secret_hash != login.secret_hash:
            return False
        self.logins[login.sid] = replace(
            stored, generation=stored.generation + 1, secret_hash=new_secret_hash,
            used_hashes=(*stored.used_hashes, stored.secret_hash)[-USED_SECRETS_KEPT:], issued_at=now,
            rotated_at=now if retriable else None,
        )
        return True

    async def end(self, sid: str) -> bool:
        await asyncio.sleep(0)
        found = self.logins.pop(sid, None) or self.browsers.pop(sid, None)
        self.started.pop(sid, None)
        return found is not None

    async def end_many(self, sids: list[str]) -> None:
        for sid in sids:
            await self.end(sid)

    async def end_all_of(self, user_id: str, keep_sid: str | None = None) -> int:
        ended = [sid for sid, login in self.logins.items() if login.user_id == user_id and sid != keep_sid]
        ended += [sid for sid, b in self.browsers.items() if b.user_id == user_id and sid != keep_sid]
        await self.end_many(ended)
        return len(ended)

    async def of_user(self, user_id: str, now: datetime, limit: int = 500) -> list[Login | BrowserSession]:
        await asyncio.sleep(0)
        found: list[Login | BrowserSession] = [
            *(x for x in self.logins.values() if x.user_id == user_id and x.expires_at > now),
            *(x for x in self.browsers.values() if x.user_id == user_id and x.expires_at > now),
        ]
        return sorted(found, key=lambda x: x.created_at, reverse=True)[:limit]

    async def enrol(self, user_id: str, sid: str, limit: int) -> Enrolment:
        await asyncio.sleep(0)
        if user_id not in self.lists:
            return Enrolment(None, ())
        stamp, sids = self.lists[user_id]
        sids = [*sids, sid]
        self.lists[user_id] = (stamp, sids[-limit:])
        return Enrolment(stamp, tuple(sids[:-limit]) if len(sids) > limit else ())

    async def revoke_access_token(self, sid: str | None, jti: str, expires_at: datetime) -> None:
        await asyncio.sleep(0)
        if sid is None:
            self.revoked.add(jti)
        elif sid in self.logins:
            login = self.logins[sid]
            self.logins[sid] = replace(login, revoked_jtis=login.revoked_jtis | {jti})

    async def access_token_revoked(self, jti: str) -> bool:
        await asyncio.sleep(0)
        return jti in self.revoked

    async def create_browser(self, session: BrowserSession) -> None:
        await asyncio.sleep(0)
        self.browsers[session.sid] = session

    async def get_browser(self, sid: str, now: datetime) -> BrowserSession | None:
        await asyncio.sleep(0)
        session = self.browsers.get(sid)
        return session if session is not None and session.purge_at > now else None

    async def note_started(self, browser_sid: str, sid: str) -> bool:
        await asyncio.sleep(0)
        if browser_sid not in self.browsers:
            return False
        self.started.setdefault(browser_sid, set()).add(sid)
        return True

    async def hand_over_started(self, from_sid: str, to_sid: str) -> None:
        await asyncio.sleep(0)
        started = self.started.pop(from_sid, set())
        self.browsers.pop(from_sid, None)
        self.started.setdefault(to_sid, set()).update(started)

    async def end_browser_session(self, browser_sid: str) -> None:
        started = self.started.get(browser_sid, set())
        await self.end_many([browser_sid, *started])


class FakeCodes:
    def __init__(self) -> None:
        self.codes: dict[str, StoredCode] = {}

    async def create(self, code: StoredCode) -> None:
        await asyncio.sleep(0)
        self.codes[code.code_hash] = code

    async def get(self, code_hash: str, now: datetime) -> StoredCode | None:
        await asyncio.sleep(0)
        code = self.codes.get(code_hash)
        return code if code is not None and code.expires_at > now else None

    async def claim(self, code_hash: str, sid: str, now: datetime) -> bool:
        await asyncio.sleep(0)
        code = self.codes.get(code_hash)
        if code is None or code.used_by is not None or code.expires_at <= now:
            return False
        self.codes[code_hash] = replace(code, used_by=sid, expires_at=now.replace(year=now.year + 1))
        return True

    async def mark_replayed(self, code_hash: str) -> None:
        await asyncio.sleep(0)
        if code_hash in self.codes:
            self.codes[code_hash] = replace(self.codes[code_hash], replayed=True)

    async def was_replayed(self, code_hash: str) -> bool:
        await asyncio.sleep(0)
        code = self.codes.get(code_hash)
        return code is not None and code.replayed


class FakeConsents:
    def __init__(self) -> None:
        self.consents: dict[tuple[str, str], frozenset[str]] = {}

    async def granted(self, user_id: str, client_id: str) -> frozenset[str]:
        return self.consents.get((user_id, client_id), frozenset())

    async def grant(self, user_id: str, client_id: str, scopes: list[str], now: datetime) -> None:
        self.consents[(user_id, client_id)] = self.consents.get((user_id, client_id), frozenset()) | set(scopes)

    async def of_user(self, user_id: str) -> dict[str, tuple[frozenset[str], datetime]]:
        return {c: (scopes, datetime.min) for (u, c), scopes in self.consents.items() if u == user_id}

    async def revoke(self, user_id: str, client_id: str) -> bool:
        return self.consents.pop((user_id, client_id), None) is not None

    async def forget_user(self, user_id: str) -> int:
        gone = [key for key in self.consents if key[0] == user_id]
        for key in gone:
            del self.consents[key]
        return len(gone)

    async def forget_client(self, client_id: str) -> int:
        gone = [key for key in self.consents if key[1] == client_id]
        for key in gone:
            del self.consents[key]
        return len(gone)
