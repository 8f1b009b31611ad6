"""The database handle: Motor for mongodb:// URIs, mongomock-motor for memory://.

Motor is deprecated in favour of PyMongo's AsyncMongoClient; constructing the client
here, and only here, keeps that switch to one change.
"""

from __future__ import annotations

import logging
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo.errors import ConfigurationError, InvalidURI

from idp.settings import ConfigError

log = logging.getLogger(__name__)

Database = AsyncIOMotorDatabase


def connect(uri: str, db_name: str) -> tuple[Any, Database]:
    """Return (client, database) for the URI, without doing any I/O yet."""
    if uri.startswith("memory://"):
        from mongomock_motor import AsyncMongoMockClient

        client: Any = AsyncMongoMockClient(tz_aware=True)
    else:
        try:
            client = AsyncIOMotorClient(
                uri, tz_aware=True, serverSelectionTimeoutMS=5000, uuidRepresentation="standard"
            )
        except (ConfigurationError, InvalidURI, ValueError) as exc:
            raise ConfigError(f"IDP_MONGO_URI is not usable: {exc}") from None
    return client, client[db_name]


async def ping(db: Database) -> bool:
    """True when the database answers a ping."""
    try:
        await db.command("ping")
    except Exception as exc:  # any failure means "not ready", whatever the driver raised
        log.warning("database ping failed: %s", type(exc).__name__)
        return False
    return True


async def ensure_indexes(db: Database) -> None:
    """Create every index the stores rely on; safe to run at every start."""
    from idp.store import clients, throttle, tokens, users

    for module in (users, clients, tokens, throttle):
        await module.ensure_indexes(db)
