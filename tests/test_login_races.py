"""Logins that race a password change or a deletion, and the cap on live logins.

A login checks the password, then stores its session. A password change or a deletion
that completes between the two must still end that login: the contract's "every
session that exists when it completes — including one whose password check was already
under way".
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from idp.store.logins import LoginStore
from tests.helpers import PASSWORD, bearer, introspect, me_status, password_grant, refresh

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # fourteen logins at once from one address, all counted before their hashes are
    # checked one at a time: the throttle would refuse the change in their midst, and the
    # race with the change is what these tests are about, not the throttle
    return {"login_max_failures": 1000}


def hold_session_writes(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Logins stop just before storing their session until `release` is set."""
    entered, release = asyncio.Event(), asyncio.Event()
    original = LoginStore.create

    async def held(self: LoginStore, session: object) -> None:
        entered.set()
        await release.wait()
        await original(self, session)  # type: ignore[arg-type]

    monkeypatch.setattr(LoginStore, "create", held)
    return entered, release


async def change_password(client: Client, access_token: str) -> None:
    response = await client.patch("/users/me", json={"password": NEW_PASSWORD, "current_password": PASSWORD},
                                  headers=bearer(access_token))
    assert response.status_code == 200


async def delete_account(client: Client, access_token: str) -> None:
    response = await client.delete("/users/me", json={"current_password": PASSWORD}, headers=bearer(access_token))
    assert response.status_code == 204


@pytest.mark.parametrize("change", [change_password, delete_account])
async def test_a_login_whose_password_check_preceded_the_change_does_not_survive(
    client: Client, ann: dict, session: dict, monkeypatch: pytest.MonkeyPatch,
    change: Callable[[Client, str], Awaitable[None]],
) -> None:
    entered, release = hold_session_writes(monkeypatch)
    in_flight = asyncio.create_task(password_grant(client))
    await asyncio.wait_for(entered.wait(), 10)  # its password check with the old password passed
    await change(client, session["access_token"])
    release.set()
    response = await in_flight
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_grant"


@pytest.mark.parametrize("change", [change_password, delete_account])
async def test_no_login_of_a_storm_outlives_the_change(
    client: Client, ann: dict, session: dict, change: Callable[[Client, str], Awaitable[None]],
) -> None:
    """The reviewer's shape: many logins with the old password, the change in their midst."""

    async def one_login(delay: float) -> dict | None:
        await asyncio.sleep(delay)
        response = await password_grant(client)
        return await response.get_json() if response.status_code == 200 else None

    async def change_in_the_middle() -> None:
        await asyncio.sleep(0.05)
        await change(client, session["access_token"])

    delays = [random.uniform(0, 0.1) for _ in range(14)]
    results = await asyncio.gather(change_in_the_middle(), *(one_login(d) for d in delays))
    for tokens in filter(None, results[1:]):
        assert await me_status(client, tokens["access_token"]) == 401
        assert await introspect(client, tokens["access_token"]) == {"active": False}
        assert (await refresh(client, tokens["refresh_token"])).status_code == 400
