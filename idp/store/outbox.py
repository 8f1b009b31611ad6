"""The outbox: every message the server sends, stored before the request that causes it
answers, and delivered in the background (idp.mail.sender).

One document per message, keyed by a random `_id`:

- `status`: `pending` until it is sent (`sent`) or given up (`failed`);
- `next_at`: when a sender may take it next. Claiming it moves `next_at` one lease ahead
  and counts the attempt, in one find-and-modify, so a sender that dies while sending
  only delays the message by a lease; the sender that claimed it writes the outcome
  under the same `lease`, so a late sender cannot overwrite a newer one's;
- either the message itself (`to`, `subject`, `text`, `html`) or a `job` that a sender
  turns into the message when it first claims it (a password reset asked for an address,
  whose account is looked up off the request's path);
- `created_at`, `attempts`, and once settled `expires_at` (a TTL index purges it).

The claim is one find-and-modify, atomic: of two senders asking at once, exactly one
gets a given message. Once sent, the body is dropped: it may hold a link.

The (status, next_at) index serves the senders' claims: a background path, never a
request's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from idp.store.mongo import Database, ensure_ttl_index
from idp.store.values import text

OUTBOX = "outbox"
PENDING, SENT, FAILED = "pending", "sent", "failed"
KEPT_AFTER_SETTLED = timedelta(days=7)
_BODY = ("to", "subject", "text", "html", "job")


async def ensure_indexes(db: Database) -> None:
    await db[OUTBOX].create_index([("status", ASCENDING), ("next_at", ASCENDING)], name="status_next_at")
    await ensure_ttl_index(db, OUTBOX, "expires_at")


@dataclass(frozen=True)
class Message:
    """One e-mail as rendered: a text part, and an HTML part if its template has one."""

    to: str
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class Claimed:
    """A pending message a sender now holds until `lease_until`."""

    message_id: str
    lease: str
    attempts: int
    created_at: datetime
    message: Message | None  # None: its job is still to be prepared
    job: dict[str, Any] | None


class OutboxStore:
    def __init__(self, db: Database) -> None:
        self._outbox = db[OUTBOX]

    async def add(self, now: datetime, message: Message | None = None, job: dict[str, Any] | None = None) -> str:
        """Store a message (or the job that makes one), due at once; returns its id."""
        doc: dict[str, Any] = {"_id": secrets.token_hex(16), "status": PENDING, "next_at": now,
                               "created_at": now, "attempts": 0}
        if message is not None:
            doc.update(_message_fields(message))
        if job is not None:
            doc["job"] = job
        await self._outbox.insert_one(doc)
        return str(doc["_id"])

    async def claim(self, now: datetime, lease_seconds: float) -> Claimed | None:
        """The pending message due longest ago, now held by the caller; None if none is due."""
        lease = secrets.token_hex(8)
        doc = await self._outbox.find_one_and_update(
            {"status": PENDING, "next_at": {"$lte": now}},
            {"$set": {"next_at": now + timedelta(seconds=lease_seconds), "lease": lease}, "$inc": {"attempts": 1}},
            sort=[("next_at", ASCENDING)], return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        message = Message(doc["to"], doc["subject"], doc["text"], doc.get("html")) if "to" in doc else None
        return Claimed(doc["_id"], lease, doc["attempts"], doc["created_at"], message, doc.get("job"))

    async def prepared(self, claimed: Claimed, message: Message) -> None:
        """Keep the message a job became, so that a retry sends the same one."""
        await self._outbox.update_one({"_id": text(claimed.message_id), "lease": claimed.lease},
                                      {"$set": _message_fields(message), "$unset": {"job": ""}})

    async def retry_at(self, claimed: Claimed, when: datetime) -> None:
        await self._outbox.update_one({"_id": text(claimed.message_id), "lease": claimed.lease},
                                      {"$set": {"next_at": when}, "$unset": {"lease": ""}})

    async def settle(self, claimed: Claimed, status: str, now: datetime) -> None:
        """Sent, failed, or (a job with nothing to send) dropped: the body goes, the
        document expires."""
        await self._outbox.update_one(
            {"_id": text(claimed.message_id), "lease": claimed.lease},
            {"$set": {"status": status, "settled_at": now, "expires_at": now + KEPT_AFTER_SETTLED},
             "$unset": {**{field: "" for field in _BODY}, "lease": ""}},
        )

    async def oldest_pending(self) -> datetime | None:
        """When the oldest message still waiting was queued (for the metrics)."""
        doc = await self._outbox.find_one({"status": PENDING}, {"created_at": 1}, sort=[("created_at", ASCENDING)])
        return doc["created_at"] if doc else None

    async def get(self, message_id: str) -> dict[str, Any] | None:
        """One document as stored (for tests and an operator's inspection)."""
        doc: dict[str, Any] | None = await self._outbox.find_one({"_id": text(message_id)})
        return doc


def _message_fields(message: Message) -> dict[str, Any]:
    fields: dict[str, Any] = {"to": message.to, "subject": message.subject, "text": message.text}
    if message.html is not None:
        fields["html"] = message.html
    return fields
