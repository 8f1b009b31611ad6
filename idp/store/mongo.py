"""The database handle: Motor for mongodb:// URIs, mongomock-motor for memory://.

Motor is deprecated in favour of PyMongo's AsyncMongoClient; constructing the client
here, and only here, keeps that switch to one change.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo.errors import ConfigurationError, DuplicateKeyError, InvalidURI, OperationFailure

from idp.settings import ConfigError

log = logging.getLogger(__name__)

Database = AsyncIOMotorDatabase
Collection = AsyncIOMotorCollection
MongoClient = AsyncIOMotorClient
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
            client = AsyncIOMotorClient(
                uri, tz_aware=True, serverSelectionTimeoutMS=timeout_ms, timeoutMS=timeout_ms,
                readPreference="primary", w="majority", uuidRepresentation="standard",
            )
        except (ConfigurationError, InvalidURI, ValueError) as exc:
            raise ConfigError(f"IDP_MONGO_URI is not usable: {exc}") from None
    return client, client[db_name]


def _let_mongomock_take_newer_bulk_updates() -> None:
    """mongomock 4.3 predates the `sort` argument that PyMongo (4.11+) hands to each
    update of a bulk write; without this, every bulk_write of UpdateOne fails in memory."""
    from mongomock.collection import BulkOperationBuilder

    add_update = BulkOperationBuilder.add_update
    if getattr(add_update, "takes_sort", False):
        return

    def add_update_ignoring_sort(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
        return add_update(self, *args, **kwargs)

    add_update_ignoring_sort.takes_sort = True  # type: ignore[attr-defined]
    BulkOperationBuilder.add_update = add_update_ignoring_sort  # type: ignore[method-assign]


async def upsert(operation: Callable[[], Awaitable[T]]) -> T:
    """Run an upsert keyed by `_id`, once more if a concurrent upsert inserted first.

    Two upserts of one new `_id` can both try the insert, and the loser fails with a
    duplicate key. MongoDB (4.2+) retries that itself; FerretDB does not. The retry
    finds the document and updates it.
    """
    try:
        return await operation()
    except DuplicateKeyError:
        return await operation()


async def insert_claim(collection: Any, claim_id: str, expires_at: datetime, **fields: Any) -> bool:
    """Insert a claim under a unique `_id`: True for the one insert that wins, False for
    every other. This is the atomic step of every race the store decides (rotation, a
    code's single use): atomic on MongoDB and on servers without atomic updates."""
    try:
        await collection.insert_one({"_id": claim_id, "expires_at": expires_at, **fields})
    except DuplicateKeyError:
        return False
    return True


class DocumentLocks:
    """Serialise, within this process, the read-modify-write commands on one document.

    MongoDB applies each update to a document atomically. FerretDB v1 does not: two
    concurrent updates of one document can lose one of them (measured: `$inc`, `$push`,
    find-and-modify). Where a count must stay exact under concurrency (throttling, a
    user's list of logins), the store also takes this lock, so that requests of one
    process never race on a document. Striped: a fixed set of locks, whatever the
    number of keys.
    """

    def __init__(self, stripes: int = 256) -> None:
        self._locks = [asyncio.Lock() for _ in range(stripes)]

    @asynccontextmanager
    async def holding(self, *keys: str) -> AsyncIterator[None]:
        """Hold the locks of every key (in a fixed order, so two holders never deadlock)."""
        stripes = sorted({zlib.crc32(key.encode()) % len(self._locks) for key in keys})
        async with AsyncExitStack() as stack:
            for stripe in stripes:
                await stack.enter_async_context(self._locks[stripe])
            yield


PING_TIMEOUT_SECONDS = 2.0


async def ping(db: Database) -> bool:
    """True when the database answers a ping within PING_TIMEOUT_SECONDS."""
    try:
        await asyncio.wait_for(db.command("ping"), PING_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not ready", whatever the driver raised
        log.warning("database ping failed: %s", type(exc).__name__)
        return False
    return True


_NOT_IMPLEMENTED = 238


async def ensure_ttl_index(db: Database, collection: str, field: str) -> None:
    """An index that deletes a document once `field` (a date) has passed.

    Some MongoDB-compatible servers (FerretDB v1) have no TTL indexes. Every query
    checks expiry itself, so that only means expired documents stay on disk: say so and
    go on rather than refuse to start.
    """
    try:
        await db[collection].create_index(field, expireAfterSeconds=0, name=f"{field}_ttl")
    except OperationFailure as exc:
        if exc.code != _NOT_IMPLEMENTED:
            raise
        log.warning("this server has no TTL indexes: expired %s are not purged", collection)


async def ensure_indexes(db: Database) -> None:
    """Create every index the stores rely on; safe to run at every start."""
    from idp.store import clients, codes, consents, logins, outbox, recovery_tokens, throttle, users

    for module in (users, clients, logins, throttle, codes, consents, outbox, recovery_tokens):
        await module.ensure_indexes(db)
