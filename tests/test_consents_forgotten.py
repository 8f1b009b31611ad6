"""Consents go with the account, and with a client that leaves the clients file (a
client id added back later must not inherit them)."""

from __future__ import annotations

from datetime import UTC, datetime

from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.oauth.clients_file import sync_clients
from tests.helpers import PASSWORD, bearer, login, register


async def test_deleting_an_account_forgets_its_consents(app: Quart, client: Client, ann: dict) -> None:
    services = app.extensions["idp"]
    other = await register(client, email="bob@example.com", name="Bob")
    for user_id in (ann["id"], other["id"]):
        await services.consents.grant(user_id, "web", ["account"])
        await services.consents.grant(user_id, "backend", ["read"])
    tokens = await login(client)
    response = await client.delete("/users/me", json={"current_password": PASSWORD},
                                   headers=bearer(tokens["access_token"]))
    assert response.status_code == 204
    assert await services.consents.granted(ann["id"], "web") == frozenset()
    assert await services.consents.granted(ann["id"], "backend") == frozenset()
    assert await services.consents.granted(other["id"], "web") == {"account"}


async def test_a_client_leaving_the_file_loses_its_consents(app: Quart, ann: dict) -> None:
    services = app.extensions["idp"]
    await services.consents.grant(ann["id"], "web", ["account"])
    await services.consents.grant(ann["id"], "backend", ["read"])
    remaining = [entry for entry in services.client_entries if entry.client_id != "web"]
    await sync_clients(services.clients, services.consents, remaining, datetime.now(UTC))
    assert await services.consents.granted(ann["id"], "web") == frozenset()
    assert await services.consents.granted(ann["id"], "backend") == {"read"}
