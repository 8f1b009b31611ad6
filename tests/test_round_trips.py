"""The round-trip budget of each hot path, and that each reaches the database by `_id`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.settings import Settings
from tests.authorize_flow import MINE, answer, authorize_params, authorize_url, pkce, redeem, sign_in
from tests.conftest import TEST_MONGO_URI
from tests.helpers import (
    basic, bearer, introspect, login, password_grant, post_form, refresh, revoke,
)
from tests.round_trips import RoundTrips, count_in_memory, count_on_the_wire


@pytest.fixture
async def trips(app: Quart, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RoundTrips]:
    # the mail sender works in the background on the same database: not a request's cost
    sender = app.extensions["idp"].mail.sender
    if sender is not None:
        await sender.stop()
    trips = RoundTrips(settings.mongo_db)
    if TEST_MONGO_URI:
        count_on_the_wire(trips)
    else:
        count_in_memory(monkeypatch, trips)
    yield trips


async def test_password_grant_costs_at_most_seven(client: Client, ann: dict, trips: RoundTrips) -> None:
    """Throttle e-mail and IP, read the credentials, settle the throttle, read the user's
    second factors (an account with one is refused the password grant, after the right
    password only: one `_id` read more than before second factors existed), store the
    login, enrol it (which re-checks the credentials stamp)."""
    with trips.measure() as commands:
        assert (await password_grant(client)).status_code == 200
    assert len(commands) <= 7, commands
    assert trips.all_by_id(), trips.filters


async def test_refresh_costs_at_most_two(client: Client, ann: dict, session: dict, trips: RoundTrips) -> None:
    """Read the login, rotate it (one conditional update)."""
    with trips.measure() as commands:
        assert (await refresh(client, session["refresh_token"])).status_code == 200
    assert len(commands) <= 2, commands
    assert trips.all_by_id(), trips.filters


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
async def test_revocation_costs_at_most_two(client: Client, ann: dict, session: dict, trips: RoundTrips,
                                            kind: str) -> None:
    with trips.measure() as commands:
        assert (await revoke(client, session[kind], token_type_hint=kind)).status_code == 200
    assert len(commands) <= 2, commands
    assert trips.all_by_id(), trips.filters


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
async def test_introspection_costs_at_most_two(client: Client, ann: dict, trips: RoundTrips, kind: str) -> None:
    """By the client the tokens were issued to (another never sees a refresh token)."""
    tokens = await login(client, client_id="backend")
    with trips.measure() as commands:
        assert (await introspect(client, tokens[kind], client_id="backend"))["active"] is True
    assert len(commands) <= 2, commands
    assert trips.all_by_id(), trips.filters


async def test_client_credentials_cost_nothing(client: Client, trips: RoundTrips) -> None:
    with trips.measure() as commands:
        response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials"}, basic("service"))
        assert response.status_code == 200
        assert (await introspect(client, (await response.get_json())["access_token"]))["active"] is True
    assert len(commands) <= 1, commands  # the introspection's check for a revoked token
    assert trips.all_by_id(), trips.filters


async def test_me_costs_at_most_two(client: Client, ann: dict, session: dict, trips: RoundTrips) -> None:
    with trips.measure() as commands:
        response = await client.get("/users/me", headers=bearer(session["access_token"]))
        assert response.status_code == 200
    assert len(commands) <= 2, commands
    assert trips.all_by_id(), trips.filters


async def test_the_counter_counts(client: Client, ann: dict, trips: RoundTrips) -> None:
    """Guard against a budget test that passes because nothing is counted."""
    with trips.measure() as commands:
        await login(client)
    assert len(commands) >= 4


@pytest.mark.parametrize("clients_file", [[MINE]], indirect=True)
async def test_browser_sign_in_reaches_everything_by_id(client: Client, ann: dict, trips: RoundTrips) -> None:
    """A signed-in browser asking for a code, and the code's redemption: one read of the
    browser session and one insert of the code; then find the code, claim it (one
    conditional update), store and enrol the login, note it on the browser session, check
    for a replay."""
    verifier, challenge = pkce()
    await sign_in(client, authorize_params("mine"))
    with trips.measure() as commands:
        code = answer(await client.get(authorize_url(authorize_params("mine", challenge))))["code"]
    assert len(commands) <= 2, commands
    assert trips.all_by_id(), trips.filters
    with trips.measure() as commands:
        assert (await redeem(client, code, verifier, "mine")).status_code == 200
    assert len(commands) <= 6, commands
    assert trips.all_by_id(), trips.filters


# -- recovery and verified e-mail -----------------------------------------------------------

async def test_a_reset_request_costs_three_whatever_the_address(client: Client, ann: dict,
                                                               trips: RoundTrips) -> None:
    """Count the IP, count the address, store the job: the account is looked up by the
    sender, so a known and an unknown address cost the same."""
    for address in ("ann@example.com", "nobody@example.com"):
        with trips.measure() as commands:
            assert (await client.post("/users/password-reset", json={"email": address})).status_code == 202
        assert len(commands) <= 3, commands
        assert trips.all_by_id(), trips.filters


async def _reset_token(app: Quart) -> str:
    services = app.extensions["idp"]
    credentials = await services.users.credentials("ann@example.com")
    return (await services.password_reset.link_for(credentials)).partition("token=")[2]


async def test_a_reset_completion_costs_at_most_eight(app: Quart, client: Client, ann: dict, session: dict,
                                                      trips: RoundTrips) -> None:
    """Read the token and the credentials, use the token, set the credentials, restamp the
    list, end the logins (the one command by user_id, as a password change), mark the
    address verified, queue the notice."""
    token = await _reset_token(app)
    with trips.measure() as commands:
        response = await client.post("/users/password-reset/complete",
                                     json={"token": token, "password": "a brand new passphrase"})
        assert response.status_code == 204
    assert len(commands) <= 8, commands
    by_user = [f for f in trips.filters if not (isinstance(f, dict) and isinstance(f.get("_id"), str))]
    assert by_user == [{"user_id": ann["id"]}], trips.filters


async def test_the_reset_page_costs_two_reads_by_id(app: Quart, client: Client, ann: dict,
                                                     trips: RoundTrips) -> None:
    token = await _reset_token(app)
    with trips.measure() as commands:
        assert (await client.get(f"/account/reset?token={token}")).status_code == 200
    assert len(commands) <= 2, commands
    assert trips.all_by_id(), trips.filters


async def test_verification_costs_three_and_asking_again_four(app: Quart, client: Client, ann: dict,
                                                               session: dict, trips: RoundTrips) -> None:
    """Read the token, use it, mark the address; asking again: the token's login, the
    per-user count, the user, the job."""
    from idp.accounts.recovery import Links
    from idp.store.recovery_tokens import VERIFY, RecoveryTokenStore

    services = app.extensions["idp"]
    links = Links(RecoveryTokenStore(services.db), services.settings.issuer, services.clock)
    token = (await links.make(VERIFY, ann["id"], "ann@example.com", 60))[1].partition("token=")[2]
    with trips.measure() as commands:
        assert (await client.post("/users/email-verification/complete", json={"token": token})).status_code == 204
    assert len(commands) <= 3, commands
    assert trips.all_by_id(), trips.filters
    with trips.measure() as commands:
        response = await client.post("/users/me/email-verification", headers=bearer(session["access_token"]))
        assert response.status_code == 202
    assert len(commands) <= 4, commands
    assert trips.all_by_id(), trips.filters
