"""At most IDP_MAX_SESSIONS_PER_USER live logins per user: a new one ends the oldest."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol as Client

from tests.helpers import login, me_status, refresh, register


@pytest.fixture
def settings_overrides() -> dict:
    return {"max_sessions_per_user": 3}


async def test_a_login_beyond_the_cap_ends_the_oldest(client: Client, ann: dict) -> None:
    logins = [await login(client) for _ in range(5)]
    for ended in logins[:2]:
        assert await me_status(client, ended["access_token"]) == 401
        assert (await refresh(client, ended["refresh_token"])).status_code == 400
    for live in logins[2:]:
        assert await me_status(client, live["access_token"]) == 200
    assert (await refresh(client, logins[2]["refresh_token"])).status_code == 200


async def test_the_cap_counts_each_user_apart(client: Client, ann: dict) -> None:
    await register(client, email="bob@example.com")
    ann_first = await login(client)
    for _ in range(3):
        await login(client, email="bob@example.com")
    assert await me_status(client, ann_first["access_token"]) == 200
