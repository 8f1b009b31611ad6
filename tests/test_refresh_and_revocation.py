"""Refresh-token rotation and reuse detection, revocation (logout), introspection."""

from __future__ import annotations

import asyncio

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.conftest import ManualClock
from tests.helpers import PASSWORD, basic, bearer, introspect, login, me_status, post_form, refresh, refresh_storm, revoke


async def test_refresh_rotates_and_the_old_token_stops_working(client: Client, ann: dict) -> None:
    first = await login(client)
    response = await refresh(client, first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    second = await response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "account profile"
    assert await me_status(client, second["access_token"]) == 200
    third = await refresh(client, second["refresh_token"])
    assert third.status_code == 200


async def test_reuse_of_a_rotated_token_ends_the_whole_login(client: Client, ann: dict) -> None:
    first = await login(client)
    second = await (await refresh(client, first["refresh_token"])).get_json()
    third = await (await refresh(client, second["refresh_token"])).get_json()

    replay = await refresh(client, first["refresh_token"])
    assert replay.status_code == 400
    assert (await replay.get_json())["error"] == "invalid_grant"

    # every refresh and access token of that login is dead now
    assert (await refresh(client, third["refresh_token"])).status_code == 400
    for tokens in (first, second, third):
        assert await me_status(client, tokens["access_token"]) == 401
    assert (await introspect(client, third["access_token"])) == {"active": False}


async def test_reuse_does_not_touch_other_logins(client: Client, ann: dict) -> None:
    mine = await login(client)
    other = await login(client)
    await refresh(client, mine["refresh_token"])
    await refresh(client, mine["refresh_token"])  # reuse
    assert await me_status(client, other["access_token"]) == 200
    assert (await refresh(client, other["refresh_token"])).status_code == 200


async def test_twenty_concurrent_refreshes_of_one_token_yield_exactly_one_success(client: Client, ann: dict) -> None:
    tokens = await login(client)
    responses = await asyncio.gather(*(refresh(client, tokens["refresh_token"]) for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 19
    for response in responses:
        if response.status_code == 400:
            assert (await response.get_json())["error"] == "invalid_grant"
    # the nineteen others presented a token that had been rotated away: reuse, so the
    # login is over, including what the one success carried
    winner = next(r for r in responses if r.status_code == 200)
    issued = await winner.get_json()
    assert (await refresh(client, issued["refresh_token"])).status_code == 400
    assert await me_status(client, issued["access_token"]) == 401


async def test_narrower_scope_on_refresh_and_wider_is_invalid_scope(client: Client, ann: dict) -> None:
    tokens = await login(client, scope="account")
    wider = await refresh(client, tokens["refresh_token"], scope="account profile")
    assert wider.status_code == 400
    assert (await wider.get_json())["error"] == "invalid_scope"
    # a refused request does not use the token up
    narrower = await (await refresh(client, tokens["refresh_token"], scope="account")).get_json()
    assert narrower["scope"] == "account"


async def test_invalid_scope_on_refresh_names_the_scopes_the_login_did_not_have(client: Client, ann: dict) -> None:
    tokens = await login(client, scope="account")
    wider = await refresh(client, tokens["refresh_token"], scope="account profile")
    description = (await wider.get_json())["error_description"]
    assert "'profile'" in description and "'account'" not in description
    malformed = await refresh(client, tokens["refresh_token"], scope='account "x"')
    assert (await malformed.get_json())["error"] == "invalid_scope"
    assert '"' not in (await malformed.get_json())["error_description"]


async def test_narrowed_refresh_keeps_the_login_scope_for_the_next_refresh(client: Client, ann: dict) -> None:
    tokens = await login(client)
    narrowed = await (await refresh(client, tokens["refresh_token"], scope="profile")).get_json()
    assert narrowed["scope"] == "profile"
    again = await (await refresh(client, narrowed["refresh_token"])).get_json()
    assert again["scope"] == "account profile"  # RFC 6749 §6: same scope as the refresh token


async def test_refresh_token_of_another_client_is_invalid_grant(client: Client, ann: dict) -> None:
    tokens = await login(client)
    response = await post_form(client, "/oauth/token",
                               {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                               basic("backend"))
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_grant"
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200  # still good for its owner


@pytest.mark.parametrize("token", ["no-such-token", "0" * 32 + "." + "a" * 43])
async def test_unknown_refresh_token_is_invalid_grant(client: Client, token: str) -> None:
    response = await refresh(client, token)
    assert response.status_code == 400
    body = await response.get_json()
    assert body["error"] == "invalid_grant"
    assert "unknown, expired or revoked" in body["error_description"]


async def test_a_made_up_secret_beside_a_real_login_ends_nothing(client: Client, ann: dict) -> None:
    """The sid is in every access token; knowing it must not let anyone end the login."""
    tokens = await login(client)
    sid = tokens["refresh_token"].split(".")[0]
    assert (await refresh(client, f"{sid}.{'a' * 43}")).status_code == 400
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200


async def test_reuse_is_recognised_generations_later(client: Client, ann: dict) -> None:
    first = await login(client)
    current = first["refresh_token"]
    for _ in range(5):
        current = (await (await refresh(client, current)).get_json())["refresh_token"]
    response = await refresh(client, first["refresh_token"])
    assert (await response.get_json())["error_description"].startswith("The refresh token was already used")
    assert (await refresh(client, current)).status_code == 400


async def test_refresh_tokens_expire_absolutely_from_the_login(client: Client, ann: dict, clock: ManualClock) -> None:
    tokens = await login(client)
    clock.advance(2_592_000 - 10)
    tokens = await (await refresh(client, tokens["refresh_token"])).get_json()
    clock.advance(11)
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400


async def test_refresh_after_the_user_was_deleted_is_invalid_grant(client: Client, ann: dict) -> None:
    tokens = await login(client)
    other = await login(client)
    response = await client.delete("/users/me", json={"current_password": PASSWORD},
                                   headers=bearer(other["access_token"]))
    assert response.status_code == 204
    assert (await refresh(client, tokens["refresh_token"])).status_code == 400


# -- revocation -------------------------------------------------------------------------

async def test_revoking_a_refresh_token_ends_the_login(client: Client, ann: dict) -> None:
    first = await login(client)
    second = await (await refresh(client, first["refresh_token"])).get_json()
    response = await revoke(client, second["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200
    assert (await refresh(client, second["refresh_token"])).status_code == 400
    for tokens in (first, second):
        assert await me_status(client, tokens["access_token"]) == 401
        assert await introspect(client, tokens["access_token"]) == {"active": False}


async def test_revoking_an_ancestor_refresh_token_ends_the_login(client: Client, ann: dict) -> None:
    first = await login(client)
    second = await (await refresh(client, first["refresh_token"])).get_json()
    assert (await revoke(client, first["refresh_token"])).status_code == 200
    assert (await refresh(client, second["refresh_token"])).status_code == 400


async def test_revoking_an_access_token_ends_only_that_token(client: Client, ann: dict) -> None:
    tokens = await login(client)
    other = await (await refresh(client, tokens["refresh_token"])).get_json()
    assert (await revoke(client, tokens["access_token"], token_type_hint="access_token")).status_code == 200
    assert await me_status(client, tokens["access_token"]) == 401
    assert await introspect(client, tokens["access_token"]) == {"active": False}
    assert await me_status(client, other["access_token"]) == 200


async def test_revoking_with_a_wrong_hint_still_finds_the_token(client: Client, ann: dict) -> None:
    tokens = await login(client)
    assert (await revoke(client, tokens["access_token"], token_type_hint="refresh_token")).status_code == 200
    assert await me_status(client, tokens["access_token"]) == 401


@pytest.mark.parametrize("token", ["unknown", "a.b.c", "x" * 5000])
async def test_revoking_an_unknown_token_is_200(client: Client, token: str) -> None:
    response = await revoke(client, token)
    assert response.status_code == 200


async def test_revoking_twice_is_200(client: Client, ann: dict) -> None:
    tokens = await login(client)
    assert (await revoke(client, tokens["refresh_token"])).status_code == 200
    assert (await revoke(client, tokens["refresh_token"])).status_code == 200


async def test_another_client_cannot_revoke_a_token(client: Client, ann: dict) -> None:
    """It is answered exactly as an unknown token (a 400 would say the token exists)."""
    tokens = await login(client)
    unknown = await revoke(client, "0" * 32 + "." + "A" * 43, client_id="backend")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = await revoke(client, token, client_id="backend")
        assert response.status_code == unknown.status_code == 200
        assert await response.get_data() == await unknown.get_data()
    assert await me_status(client, tokens["access_token"]) == 200
    assert (await refresh(client, tokens["refresh_token"])).status_code == 200


async def test_revocation_needs_client_authentication(client: Client, ann: dict) -> None:
    tokens = await login(client)
    response = await post_form(client, "/oauth/revoke", {"token": tokens["access_token"]})
    assert response.status_code == 401
    response = await post_form(client, "/oauth/revoke", {"token": tokens["access_token"]},
                               basic("backend", "wrong"))
    assert response.status_code == 401
    assert await me_status(client, tokens["access_token"]) == 200


async def test_revocation_without_token_is_invalid_request(client: Client) -> None:
    response = await post_form(client, "/oauth/revoke", {"client_id": "web"})
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_request"


async def test_revocation_during_a_refresh_storm_leaves_nothing_alive(client: Client, ann: dict) -> None:
    tokens = await login(client)
    chain = [tokens]

    async def logout() -> None:
        await asyncio.sleep(0.05)
        await revoke(client, tokens["refresh_token"])

    await asyncio.gather(refresh_storm(client, tokens["refresh_token"], chain, 15), logout())
    for issued in chain:
        assert await me_status(client, issued["access_token"]) == 401
        assert (await refresh(client, issued["refresh_token"])).status_code == 400


# -- introspection ----------------------------------------------------------------------

async def test_introspecting_a_live_access_token(client: Client, ann: dict) -> None:
    tokens = await login(client)
    body = await introspect(client, tokens["access_token"])
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["sub"] == ann["id"] and body["client_id"] == "web"
    assert body["scope"] == "account profile"
    assert body["iss"] == "http://localhost:8000"
    assert body["exp"] > body["iat"]


async def test_introspecting_a_live_refresh_token(client: Client, ann: dict) -> None:
    """By the client it was issued to: another client never sees a refresh token."""
    tokens = await login(client, client_id="backend")
    body = await introspect(client, tokens["refresh_token"], client_id="backend")
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["sub"] == ann["id"] and body["client_id"] == "backend"
    assert body["scope"] == "account read write"
    assert body["exp"] - body["iat"] == 2_592_000


async def test_introspection_with_client_secret_post(client: Client, ann: dict) -> None:
    poster = {"grant_type": "password", "username": "ann@example.com", "password": PASSWORD,
              "client_id": "poster", "client_secret": "poster-secret-0123456789"}
    tokens = await (await post_form(client, "/oauth/token", poster)).get_json()
    response = await post_form(client, "/oauth/introspect", {
        "token": tokens["access_token"], "client_id": "poster", "client_secret": "poster-secret-0123456789"})
    assert (await response.get_json())["active"] is True


async def test_expired_access_token_is_inactive(client: Client, ann: dict, clock: ManualClock) -> None:
    tokens = await login(client)
    clock.advance(901)
    assert await introspect(client, tokens["access_token"]) == {"active": False}
    assert await me_status(client, tokens["access_token"]) == 401


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
async def test_malformed_or_unknown_tokens_are_inactive(client: Client, token: str) -> None:
    response = await post_form(client, "/oauth/introspect", {"token": token}, basic("service"))
    if token == "":
        assert response.status_code == 400
    else:
        assert await response.get_json() == {"active": False}


async def test_used_refresh_token_is_inactive(client: Client, ann: dict) -> None:
    tokens = await login(client, client_id="backend")
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert (await post_form(client, "/oauth/token", form, basic("backend"))).status_code == 200
    assert await introspect(client, tokens["refresh_token"], client_id="backend") == {"active": False}


async def test_introspection_requires_a_confidential_client(client: Client, ann: dict) -> None:
    tokens = await login(client)
    response = await post_form(client, "/oauth/introspect", {"token": tokens["access_token"], "client_id": "web"})
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "invalid_client"
    response = await post_form(client, "/oauth/introspect", {"token": tokens["access_token"]},
                               basic("service", "wrong"))
    assert response.status_code == 401
