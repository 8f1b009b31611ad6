"""Login and registration throttling, through HTTP, with a clock that the tests move."""

from __future__ import annotations

import asyncio

import pytest
from quart.typing import TestClientProtocol as Client

from idp.app import create_app
from idp.settings import Settings
from tests.conftest import TEST_MONGO_URI, ManualClock
from tests.helpers import PASSWORD, bearer, login, password_grant, register

WINDOW = 60


@pytest.fixture
def settings_overrides() -> dict:
    return {"login_max_failures": 3, "ip_max_failures": 6, "register_max_per_ip": 4, "login_window": WINDOW}


async def fail(client: Client, times: int, email: str = "ann@example.com") -> None:
    for _ in range(times):
        response = await password_grant(client, email=email, password="wrong password")
        assert response.status_code == 400


async def assert_slowed(response: object) -> None:
    assert response.status_code == 429
    assert (await response.get_json())["error"] == "slow_down"
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= WINDOW


async def test_after_the_limit_even_the_right_password_is_refused(client: Client, ann: dict) -> None:
    await fail(client, 3)
    await assert_slowed(await password_grant(client))
    await assert_slowed(await password_grant(client, password="wrong password"))


async def test_unknown_emails_are_throttled_the_same_way(client: Client) -> None:
    await fail(client, 3, email="ghost@example.com")
    await assert_slowed(await password_grant(client, email="ghost@example.com", password="wrong password"))


async def test_it_works_again_once_the_window_has_passed(client: Client, ann: dict, clock: ManualClock) -> None:
    await fail(client, 3)
    response = await password_grant(client)
    await assert_slowed(response)
    clock.advance(int(response.headers["Retry-After"]))
    assert (await password_grant(client)).status_code == 200


async def test_a_success_resets_the_count(client: Client, ann: dict) -> None:
    await fail(client, 2)
    assert (await password_grant(client)).status_code == 200
    await fail(client, 2)
    assert (await password_grant(client)).status_code == 200


async def test_the_limit_is_per_email(client: Client, ann: dict) -> None:
    await register(client, email="bob@example.com", name="Bob")
    await fail(client, 3)
    assert (await password_grant(client, email="bob@example.com")).status_code == 200


async def test_the_email_is_matched_case_insensitively(client: Client, ann: dict) -> None:
    await fail(client, 3, email="ANN@example.com")
    await assert_slowed(await password_grant(client, email="ann@EXAMPLE.com"))


async def test_failures_per_ip_have_their_own_higher_limit(client: Client) -> None:
    for i in range(6):
        await fail(client, 1, email=f"user{i}@example.com")
    await assert_slowed(await password_grant(client, email="fresh@example.com", password="wrong password"))


async def test_the_ip_limit_counts_failures_not_successes(client: Client, ann: dict) -> None:
    for _ in range(8):
        assert (await password_grant(client)).status_code == 200


async def test_concurrent_guesses_cannot_slip_past_the_limit(client: Client, ann: dict) -> None:
    responses = await asyncio.gather(*(password_grant(client, password=f"guess {i}") for i in range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(400) <= 3
    assert statuses.count(429) >= 9


async def test_registrations_per_ip_are_limited(client: Client, clock: ManualClock) -> None:
    for i in range(4):
        await register(client, email=f"r{i}@example.com")
    response = await client.post("/users", json={"name": "R", "email": "r9@example.com", "password": PASSWORD})
    await assert_slowed(response)
    clock.advance(WINDOW)
    await register(client, email="r9@example.com")


async def test_wrong_current_password_counts_as_a_failure(client: Client, ann: dict) -> None:
    tokens = await login(client)
    for _ in range(3):
        response = await client.patch("/users/me", json={"email": "x@example.com", "current_password": "nope nope"},
                                      headers=bearer(tokens["access_token"]))
        assert response.status_code == 403
    response = await client.delete("/users/me", json={"current_password": PASSWORD},
                                   headers=bearer(tokens["access_token"]))
    await assert_slowed(response)
    await assert_slowed(await password_grant(client))


@pytest.mark.skipif(not TEST_MONGO_URI, reason="two instances share state only through a real database")
async def test_throttle_state_is_shared_by_instances(client: Client, ann: dict, settings: Settings,
                                                     clock: ManualClock) -> None:
    """A second app instance on the same database sees the failures the first one counted."""
    await fail(client, 3)
    other = create_app(settings, clock=clock)
    async with other.test_app():
        await assert_slowed(await password_grant(other.test_client()))


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures": 3, "ip_max_failures": 6,
                                                 "login_window": WINDOW, "trusted_proxies": frozenset({"10.0.0.1"})}])
async def test_forwarded_for_is_believed_only_from_trusted_proxies(client: Client) -> None:
    async def guess(peer: str, forwarded: str, i: int) -> int:
        body = f"grant_type=password&client_id=web&username=u{i}@example.com&password=wrong+password"
        response = await client.post("/oauth/token", data=body, scope_base={"client": (peer, 5000)},
                                     headers={"Content-Type": "application/x-www-form-urlencoded",
                                              "X-Forwarded-For": forwarded})
        return response.status_code

    # behind the trusted proxy, each client address has its own count
    assert [await guess("10.0.0.1", f"198.51.100.7, 203.0.113.{i}", i) for i in range(8)] == [400] * 8
    # an untrusted peer's header is ignored: all its guesses count against the peer
    statuses = [await guess("10.0.0.2", f"203.0.113.{i}", 100 + i) for i in range(7)]
    assert statuses == [400] * 6 + [429]


async def test_a_key_keeps_a_bounded_list_of_attempts(app, client: Client, ann: dict, clock: ManualClock) -> None:
    """Attempts that left the window are pruned, so an attempt stays one small document."""
    from idp.accounts.throttling import PRUNE_SLACK, _key

    for _ in range(40):
        await fail(client, 1)
        clock.advance(WINDOW + 1)
    doc = await app.extensions["idp"].db["throttle"].find_one({"_id": _key("email", "ann@example.com")})
    assert len(doc["attempts"]) <= 2 * 3 + PRUNE_SLACK + 1


async def test_a_stranger_s_guesses_do_not_lock_the_owner_out(client: Client, ann: dict) -> None:
    """Counted per e-mail and client IP: ten wrong passwords from one address refuse that
    address only; the owner, elsewhere, still signs in."""

    async def attempt(peer: str, password: str) -> int:
        body = f"grant_type=password&client_id=web&username=ann%40example.com&password={password}"
        response = await client.post("/oauth/token", data=body, scope_base={"client": (peer, 5000)},
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        return response.status_code

    assert [await attempt("203.0.113.66", "wrong+password") for _ in range(4)] == [400, 400, 400, 429]
    assert await attempt("198.51.100.7", PASSWORD.replace(" ", "+")) == 200


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures": 3, "account_max_failures": 4,
                                                 "ip_max_failures": 50, "login_window": WINDOW}])
async def test_guesses_spread_over_many_addresses_meet_the_account_s_limit(client: Client, ann: dict) -> None:
    async def attempt(peer: str, password: str) -> int:
        body = f"grant_type=password&client_id=web&username=ann%40example.com&password={password}"
        response = await client.post("/oauth/token", data=body, scope_base={"client": (peer, 5000)},
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        return response.status_code

    statuses = [await attempt(f"203.0.113.{i}", "wrong+password") for i in range(6)]
    assert statuses == [400] * 4 + [429] * 2
    # the all-IP limit holds the right password too, for a client without a device cookie
    assert await attempt("198.51.100.7", PASSWORD.replace(" ", "+")) == 429


@pytest.mark.parametrize("settings_overrides", [{"hash_workers": 2}])
async def test_one_address_cannot_take_every_hashing_thread(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from idp.accounts import passwords
    from tests.test_hashing_pool import SlowHasher

    slow = SlowHasher(0.1)
    monkeypatch.setattr(passwords, "_hasher", slow)

    async def guess(peer: str, i: int) -> None:
        body = f"grant_type=password&client_id=web&username=u{i}%40example.com&password=wrong+password"
        await client.post("/oauth/token", data=body, scope_base={"client": (peer, 5000)},
                          headers={"Content-Type": "application/x-www-form-urlencoded"})

    await asyncio.gather(*(guess("203.0.113.1", i) for i in range(4)))
    assert slow.most_at_once == 1  # one address: one thread of the two at a time
    slow.most_at_once = 0
    await asyncio.gather(*(guess(f"203.0.113.{10 + i}", i) for i in range(4)))
    assert slow.most_at_once == 2  # several addresses share both threads

