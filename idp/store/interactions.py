"""Pending authorizations ("interactions"): the validated authorization request, kept on
the server while the person signs in and consents, so that the forms carry nothing but
its id and editing them can change nothing about the request.

`interactions`: `{_id: <unguessable id>, client_id, redirect_uri, sent_redirect_uri,
scope, state, nonce, code_challenge, prompt: [...], max_age, login_hint, created_at,
expires_at, login_sid, consented_by, notice}`. Read and written by `_id` only; every
query also checks `expires_at` (a TTL index only purges, and late), and the one that ends
an interaction is a delete by `_id`, so of two concurrent finishers exactly one wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from idp.store.mongo import Database, ensure_ttl_index
from idp.store.values import text

INTERACTIONS = "interactions"


async def ensure_indexes(db: Database) -> None:
    await ensure_ttl_index(db, INTERACTIONS, "expires_at")


@dataclass(frozen=True)
class PendingRequest:
    """An authorization request once checked: what a code for it must say."""

    client_id: str
    redirect_uri: str  # where the answer goes
    sent_redirect_uri: str | None  # as the request sent it (None: omitted), for the code
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    login_hint: str | None = None


@dataclass(frozen=True)
class Notice:
    """What the last form post left to say on the page it redirected back to."""

    form: str = "login"  # the page it is for: login or signup
    message: str | None = None
    status: int = 200
    retry_after: int | None = None
    email: str | None = None
    name: str | None = None
    field_errors: dict[str, str] | None = None


@dataclass(frozen=True)
class Interaction:
    interaction_id: str
    request: PendingRequest
    created_at: datetime
    expires_at: datetime
    login_sid: str | None = None  # the browser session whose password was checked here
    consented_by: str | None = None  # the user who allowed this request here
    notice: Notice | None = field(default=None)

    def document(self) -> dict[str, Any]:
        r = self.request
        return {
            "_id": self.interaction_id, "client_id": r.client_id, "redirect_uri": r.redirect_uri,
            "sent_redirect_uri": r.sent_redirect_uri, "scope": r.scope, "state": r.state,
            "nonce": r.nonce, "code_challenge": r.code_challenge, "prompt": sorted(r.prompt),
            "max_age": r.max_age, "login_hint": r.login_hint, "created_at": self.created_at,
            "expires_at": self.expires_at, "login_sid": self.login_sid,
            "consented_by": self.consented_by, "notice": notice_document(self.notice),
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Interaction:
        request = PendingRequest(
            client_id=doc["client_id"], redirect_uri=doc["redirect_uri"],
            sent_redirect_uri=doc.get("sent_redirect_uri"), scope=doc["scope"], state=doc.get("state"),
            nonce=doc.get("nonce"), code_challenge=doc["code_challenge"], prompt=frozenset(doc.get("prompt", ())),
            max_age=doc.get("max_age"), login_hint=doc.get("login_hint"),
        )
        notice = doc.get("notice")
        return cls(
            interaction_id=doc["_id"], request=request, created_at=doc["created_at"],
            expires_at=doc["expires_at"], login_sid=doc.get("login_sid"),
            consented_by=doc.get("consented_by"), notice=Notice(**notice) if notice else None,
        )


def notice_document(notice: Notice | None) -> dict[str, Any] | None:
    if notice is None:
        return None
    return {"form": notice.form, "message": notice.message, "status": notice.status, "retry_after": notice.retry_after,
            "email": notice.email, "name": notice.name, "field_errors": notice.field_errors}


class InteractionStore:
    def __init__(self, db: Database) -> None:
        self._interactions = db[INTERACTIONS]

    async def create(self, interaction: Interaction) -> None:
        await self._interactions.insert_one(interaction.document())

    async def get(self, interaction_id: str, now: datetime) -> Interaction | None:
        doc = await self._interactions.find_one({"_id": text(interaction_id), "expires_at": {"$gt": now}})
        return None if doc is None else Interaction.from_document(doc)

    async def update(self, interaction_id: str, now: datetime, fields: dict[str, Any]) -> bool:
        """Set fields of a live interaction; False when it is gone or expired."""
        result = await self._interactions.update_one(
            {"_id": text(interaction_id), "expires_at": {"$gt": now}}, {"$set": fields})
        return bool(result.matched_count)

    async def delete(self, interaction_id: str) -> bool:
        """End an interaction; True for exactly one of concurrent callers."""
        result = await self._interactions.delete_one({"_id": text(interaction_id)})
        return bool(result.deleted_count)
