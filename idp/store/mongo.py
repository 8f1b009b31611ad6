"""The database handle: Motor for mongodb:// URIs, mongomock-motor for memory://.

Motor is deprecated in favour of PyMongo's AsyncMongoClient; constructing the client
here, and only here, keeps that switch to one change.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo.errors import ConfigurationError, InvalidURI, OperationFailure

from idp.settings import ConfigError

log = logging.getLogger(__name__)

Database = AsyncIOMotorDatabase
OPERATION_TIMEOUT_MS = 10_000


def connect(uri: str, db_name: str) -> tuple[Any, Database]:
    """Return (client, database) for the URI, without doing any I/O yet."""
    if uri.startswith("memory://"):
        from mongomock_motor import AsyncMongoMockClient

        client: Any = AsyncMongoMockClient(tz_aware=True)
    else:
        try:
            # timeoutMS bounds every operation (PyMongo's client-side timeout), so a
            # database that stops answering mid-request gives an error, not a hang
            client = AsyncIOMotorClient(
                uri, tz_aware=True, serverSelectionTimeoutMS=5000, timeoutMS=OPERATION_TIMEOUT_MS,
                uuidRepresentation="standard",
            )
        except (ConfigurationError, InvalidURI, ValueError) as exc:
            raise ConfigError(f"IDP_MONGO_URI is not usable: {exc}") from None
    return client, client[db_name]


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
    from idp.store import clients, throttle, tokens, users

    for module in (users, clients, tokens, throttle):
        await module.ensure_indexes(db)
