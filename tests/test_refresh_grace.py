"""IDP_REFRESH_REUSE_GRACE: the refresh token rotated away last, presented again by its
client within the grace period (its answer was lost), rotates again; two generations
back, or after the grace period, it is reuse and the login ends."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from tests.conftest import ManualClock
from tests.helpers import basic, login, me_status, post_form, refresh

GRACE = 30


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"refresh_reuse_grace": GRACE}


async def _rotated(client: Client, token: str) -> dict[str, Any]:
    response = await refresh(client, token)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_json()


async def test_a_lost_answer_retried_within_the_grace_rotates_again(
        client: Client, ann: dict, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    first = await login(client)
    await _rotated(client, first["refresh_token"])  # the client never got this answer
    clock.advance(GRACE - 1)
    with caplog.at_level(logging.INFO):
        retried = await _rotated(client, first["refresh_token"])
    assert not [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "refresh.reused"]
    assert await me_status(client, retried["access_token"]) == 200
    assert (await refresh(client, retried["refresh_token"])).status_code == 200


async def test_the_pair_a_retry_replaces_is_used_so_a_second_holder_is_caught(
        client: Client, ann: dict, clock: ManualClock) -> None:
    first = await login(client)
    lost = await _rotated(client, first["refresh_token"])
    retried = await _rotated(client, first["refresh_token"])
    # whoever got the "lost" answer is caught at once: the pair a retry replaces gets no retry
    replay = await refresh(client, lost["refresh_token"])
    assert replay.status_code == 400 and (await replay.get_json())["error"] == "invalid_grant"
    assert (await refresh(client, retried["refresh_token"])).status_code == 400  # the login ended
    assert await me_status(client, retried["access_token"]) == 401


async def test_after_the_grace_period_it_is_reuse(client: Client, ann: dict, clock: ManualClock) -> None:
    first = await login(client)
    second = await _rotated(client, first["refresh_token"])
    clock.advance(GRACE + 1)
    assert (await refresh(client, first["refresh_token"])).status_code == 400
    assert (await refresh(client, second["refresh_token"])).status_code == 400


async def test_two_generations_back_is_always_reuse(client: Client, ann: dict) -> None:
    first = await login(client)
    second = await _rotated(client, first["refresh_token"])
    third = await _rotated(client, second["refresh_token"])
    assert (await refresh(client, first["refresh_token"])).status_code == 400
    assert (await refresh(client, third["refresh_token"])).status_code == 400


async def test_another_client_gets_no_grace(client: Client, ann: dict) -> None:
    first = await login(client, client_id="backend")
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    assert (await post_form(client, "/oauth/token", form, basic("backend"))).status_code == 200
    other = await post_form(client, "/oauth/token", {**form, "client_id": "poster",
                                                      "client_secret": "poster-secret-0123456789"})
    assert other.status_code == 400
    # nothing ended: the owner's retry still works within the grace
    assert (await post_form(client, "/oauth/token", form, basic("backend"))).status_code == 200
