"""The database handle: PyMongo's AsyncMongoClient for mongodb:// URIs, mongomock-motor
for memory:// (it mirrors Motor's API, which AsyncMongoClient shares for what we use).

PyMongo's own asyncio client, not Motor (deprecated, and running every command in a
thread of its own pool): a slow database fills no thread pool, and a request's
cancellation when its database budget runs out (idp.store.budget) stops its command.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, DuplicateKeyError, InvalidURI

from idp.settings import ConfigError

log = logging.getLogger(__name__)

Document = dict[str, Any]
Database = AsyncDatabase[Document]
Collection = AsyncCollection[Document]
MongoClient = AsyncMongoClient[Document]
T = TypeVar("T")


def connect(uri: str, db_name: str, timeout_seconds: float = 3) -> tuple[MongoClient, Database]:
    """Return (client, database) for the URI, without doing any I/O yet.

    Every operation is bounded by timeout_seconds (PyMongo's client-side timeout, server
    selection included), so a database that stops answering gives an error the app
    turns into 503, not a hang. Reads go to the primary and writes wait for a majority
    whatever the URI says: throttling, rotation and reuse detection read what was just
    written, which a secondary may not have yet.
    """
    if uri.startswith("memory://"):
        from mongomock_motor import AsyncMongoMockClient

        _let_mongomock_take_newer_bulk_updates()
        client: Any = AsyncMongoMockClient(tz_aware=True)
    else:
        timeout_ms = int(timeout_seconds * 1000)
        try:
            client = AsyncMongoClient(
                uri, tz_aware=True, serverSelectionTimeoutMS=timeout_ms, timeoutMS=timeout_ms,
                readPreference="primary", w="majority", uuidRepresentation="standard",
            )
        except (ConfigurationError, InvalidURI, ValueError) as exc:
            raise ConfigError(f"IDP_MONGO_URI is not usable: {exc}") from None
    return client, client[db_name]


async def close(client: MongoClient) -> None:
    """Close either kind of client (the in-memory one closes without waiting)."""
    closing = client.close()
    if closing is not None:
        await closing


def _let_mongomock_take_newer_bulk_updates() -> None:
    """mongomock 4.3 predates the `sort` argument that PyMongo (4.11+) hands to each
    update of a bulk write; without this, every bulk_write of UpdateOne fails in memory."""
    from mongomock.collection import BulkOperationBuilder

    add_update = BulkOperationBuilder.add_update
    if getattr(add_update, "takes_sort", False):
        return

    def add_update_ignoring_sort(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
        return add_update(self, *args, **kwargs)  # type: ignore[no-untyped-call]

    add_update_ignoring_sort.takes_sort = True  # type: ignore[attr-defined]
    BulkOperationBuilder.add_update = add_update_ignoring_sort  # type: ignore[method-assign]


async def upsert(operation: Callable[[], Awaitable[T]]) -> T:
    """Run an upsert keyed by `_id`, once more if a concurrent upsert inserted first.

    Two upserts of one new `_id` can both try the insert, and the loser fails with a
    duplicate key; MongoDB retries that itself in most cases, not all. The retry finds
    the document and updates it.
    """
    try:
        return await operation()
    except DuplicateKeyError:
        return await operation()


PING_TIMEOUT_SECONDS = 2.0


async def ping(db: Database, within: float = PING_TIMEOUT_SECONDS) -> bool:
    """True when the database answers a ping within `within` seconds (a readiness
    probe answers for itself, before its request's database budget runs out)."""
    try:
        await asyncio.wait_for(db.command("ping"), within)
    except Exception as exc:  # any failure means "not ready", whatever the driver raised
        log.warning("database ping failed: %s", type(exc).__name__)
        return False
    return True


async def ensure_ttl_index(db: Database, collection: str, field: str) -> None:
    """An index that deletes a document once `field` (a date) has passed. TTL purges
    lazily (and the in-memory store never), so every query checks expiry itself too."""
    await db[collection].create_index(field, expireAfterSeconds=0, name=f"{field}_ttl")
