"""Consents: the scopes a person let each client have, so that a request for scopes
already granted is not asked again. They go with the account, and with the client when
it leaves the clients file (a client id added back later starts with none)."""

from __future__ import annotations

from datetime import datetime

from idp.clock import Clock, to_datetime
from idp.store.protocols import ConsentStorage


class Consents:
    def __init__(self, store: ConsentStorage, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def granted(self, user_id: str, client_id: str) -> frozenset[str]:
        return await self._store.granted(user_id, client_id)

    async def grant(self, user_id: str, client_id: str, scopes: list[str]) -> None:
        await self._store.grant(user_id, client_id, scopes, to_datetime(self._clock()))

    async def of_user(self, user_id: str) -> dict[str, tuple[frozenset[str], datetime]]:
        """Every app a person allowed: client id → (scopes, when last granted)."""
        return await self._store.of_user(user_id)

    async def revoke(self, user_id: str, client_id: str) -> bool:
        """Forget one app's consent (it asks again next time); True if there was one."""
        return await self._store.revoke(user_id, client_id)

    async def forget_user(self, user_id: str) -> int:
        return await self._store.forget_user(user_id)

    async def forget_client(self, client_id: str) -> int:
        return await self._store.forget_client(client_id)
