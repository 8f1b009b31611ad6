"""The round-trip budget of the sign-in steps second factors add, and that each reaches
the database by `_id` (the account page itself lists logins by user: not a hot path)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from quart.typing import TestClientProtocol as Client

from idp.settings import Settings
from tests.authorize_flow import BROWSER_CLIENTS
from tests.authorize_flow import submit as submit_following
from tests.conftest import TEST_MONGO_URI, ManualClock
from tests.helpers import PASSWORD
from tests.round_trips import RoundTrips, count_in_memory, count_on_the_wire
from tests.test_account_page import enrol

pytestmark = pytest.mark.parametrize("clients_file", [BROWSER_CLIENTS], indirect=True)


@pytest.fixture
def trips(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[RoundTrips]:
    trips = RoundTrips(settings.mongo_db)
    if TEST_MONGO_URI:
        count_on_the_wire(trips)
    else:
        count_in_memory(monkeypatch, trips)
    yield trips


async def test_the_password_step_and_the_code_step(client: Client, ann: dict, clock: ManualClock,
                                                   trips: RoundTrips) -> None:
    """The password: throttle e-mail and IP, credentials, settle, read the factors, store
    the pending step. The code: read the step, throttle e-mail and IP, read the factors,
    accept the step (conditional update), settle, end the step, store and enrol the browser
    session."""
    totp, _ = await enrol(client, clock)
    page = await client.get("/account/sign-in")
    with trips.measure() as commands:
        step = await submit_following(client, page, follow_redirects=False, email="ann@example.com", password=PASSWORD)
        assert step.headers["Location"] == "/sign-in/second-step"
    assert len(commands) <= 6, commands
    assert trips.all_by_id(), trips.filters
    page = await client.get("/sign-in/second-step")
    with trips.measure() as commands:
        done = await submit_following(client, page, follow_redirects=False, code=totp.at(clock()))
        assert done.headers["Location"] == "/account"
    assert len(commands) <= 11, commands
    assert trips.all_by_id(), trips.filters


async def test_an_account_without_factors_pays_one_read(client: Client, ann: dict, trips: RoundTrips) -> None:
    page = await client.get("/account/sign-in")
    with trips.measure() as commands:
        assert (await submit_following(client, page, follow_redirects=False, email="ann@example.com", password=PASSWORD)).status_code == 303
    assert len(commands) <= 7, commands
    assert trips.all_by_id(), trips.filters
