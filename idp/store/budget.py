"""A request's database budget: IDP_DB_TIMEOUT for all it waits on MongoDB together.

The budget is one asyncio deadline around the request's view (idp.app). Time a request
spends on something else — its password hash waiting for a thread of the hashing pool,
which a login storm makes long — is not the database's: `not_counted` stops the clock
for it. When the budget runs out the request is cancelled where it waits and answers
503 (idp.http.errors); each command is also bounded on its own by the client's timeout,
for the work that runs outside the request's task (Authlib's thread).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

_current: ContextVar[asyncio.Timeout | None] = ContextVar("idp_database_budget", default=None)


@asynccontextmanager
async def database_budget(seconds: float) -> AsyncIterator[None]:
    async with asyncio.timeout(seconds) as deadline:
        token = _current.set(deadline)
        try:
            yield
        finally:
            _current.reset(token)


@asynccontextmanager
async def not_counted() -> AsyncIterator[None]:
    """Stop the request's database clock while inside; it goes on where it stopped."""
    deadline = _current.get()
    when = deadline.when() if deadline is not None else None
    if deadline is None or when is None:
        yield
        return
    loop = asyncio.get_running_loop()
    left = when - loop.time()
    deadline.reschedule(None)
    try:
        yield
    finally:
        deadline.reschedule(loop.time() + left)
