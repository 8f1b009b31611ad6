"""A rotation interrupted by the database, through the token endpoint and the real store.

A rotation is one conditional update of the login document. The failure injected here is
the one an outage produces (PyMongo's NetworkTimeout), on that very update: raised before
it is sent (nothing happened), or after the database applied it (the answer was lost).
Either way the client sees a 503, and what its retry with the same refresh token gets
shows the promise: the token still works, or it was replaced and, within
IDP_REFRESH_REUSE_GRACE, the retry rotates again — not logged as theft, one live refresh
token in the login. Without a grace period a lost answer is reuse: the trade the grace
period exists for.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pymongo.errors import NetworkTimeout
from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.helpers import login, me_status, refresh


class InterruptedRotations:
    """The login collection, with the next rotation's update interrupted `when`."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.when: str | None = None
        self.applied = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def update_one(self, query: dict[str, Any], update: Any, *args: Any, **kwargs: Any) -> Any:
        when = self.when if "generation" in query else None  # a rotation's compare-and-set
        if when is None:
            return await self._collection.update_one(query, update, *args, **kwargs)
        self.when = None
        if when == "before":
            raise NetworkTimeout("injected: the update was never sent")
        result = await self._collection.update_one(query, update, *args, **kwargs)
        self.applied += result.modified_count
        raise NetworkTimeout("injected: the update was applied and its answer lost")


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"refresh_reuse_grace": getattr(request, "param", 0)}


@pytest.fixture
def rotations(app: Quart) -> InterruptedRotations:
    store = app.extensions["idp"].login_store
    interrupted = InterruptedRotations(store._logins)
    store._logins = interrupted
    return interrupted


def _reused(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "refresh.reused"]


async def _unavailable(client: Client, token: str) -> None:
    response = await refresh(client, token)
    assert response.status_code == 503, await response.get_data(as_text=True)
    assert (await response.get_json())["error"] == "temporarily_unavailable"
    assert int(response.headers["Retry-After"]) > 0


async def test_interrupted_before_its_update_the_token_still_works(
        client: Client, ann: dict[str, Any], rotations: InterruptedRotations,
        caplog: pytest.LogCaptureFixture) -> None:
    first = await login(client)
    rotations.when = "before"
    await _unavailable(client, first["refresh_token"])
    with caplog.at_level(logging.INFO):
        retried = await refresh(client, first["refresh_token"])
    assert retried.status_code == 200, await retried.get_data(as_text=True)
    assert not _reused(caplog)
    new = await retried.get_json()
    assert await me_status(client, new["access_token"]) == 200
    assert (await refresh(client, new["refresh_token"])).status_code == 200


@pytest.mark.parametrize("settings_overrides", [30], indirect=True)
async def test_interrupted_after_its_update_a_retry_within_the_grace_rotates_again(
        app: Quart, client: Client, ann: dict[str, Any], rotations: InterruptedRotations,
        caplog: pytest.LogCaptureFixture) -> None:
    first = await login(client)
    rotations.when = "after"
    await _unavailable(client, first["refresh_token"])
    assert rotations.applied == 1  # replaced, entirely: the answer is what was lost
    with caplog.at_level(logging.INFO):
        retried = await refresh(client, first["refresh_token"])
    assert retried.status_code == 200, await retried.get_data(as_text=True)
    assert not _reused(caplog)  # a retry after an outage is not theft
    new = await retried.get_json()
    assert await me_status(client, new["access_token"]) == 200
    refresh_tokens = app.extensions["idp"].refresh
    assert (await refresh_tokens.inspect(new["refresh_token"])).current
    assert not (await refresh_tokens.inspect(first["refresh_token"])).current
    assert (await refresh(client, new["refresh_token"])).status_code == 200


async def test_interrupted_after_its_update_without_a_grace_the_retry_is_reuse(
        client: Client, ann: dict[str, Any], rotations: InterruptedRotations) -> None:
    first = await login(client)
    rotations.when = "after"
    await _unavailable(client, first["refresh_token"])
    retried = await refresh(client, first["refresh_token"])
    assert retried.status_code == 400
    assert (await retried.get_json())["error"] == "invalid_grant"
    assert await me_status(client, first["access_token"]) == 401  # the login has ended


@pytest.mark.parametrize("settings_overrides", [30], indirect=True)
async def test_a_retry_whose_answer_is_lost_too_cannot_be_retried_again(
        client: Client, ann: dict[str, Any], rotations: InterruptedRotations) -> None:
    """The limit of the grace period: the retry rotated again, so the token the client
    still holds is two generations old, and presenting it a third time is reuse."""
    first = await login(client)
    for _ in range(2):
        rotations.when = "after"
        await _unavailable(client, first["refresh_token"])
    assert rotations.applied == 2
    third = await refresh(client, first["refresh_token"])
    assert third.status_code == 400 and (await third.get_json())["error"] == "invalid_grant"
