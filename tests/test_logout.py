"""RP-initiated logout (OIDC RP-Initiated Logout 1.0) at GET /oauth/logout: the browser
session and the logins it started end; only a registered post_logout_redirect_uri is
ever redirected to."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from quart.typing import TestClientProtocol as Client

from tests.authorize_flow import (
    BROWSER_CLIENTS, answer, authorize_params, authorize_url, pkce, redeem, sign_in, submit, tokens_for,
)
from tests.conftest import CLIENTS, ManualClock
from tests.helpers import bearer, login

SIGNED_OUT = "https://app.example.com/signed-out"


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(CLIENTS + BROWSER_CLIENTS))
    return path


async def _signed_in(client: Client) -> bool:
    response = await client.get(authorize_url(authorize_params("mine", prompt="none")))
    return "code=" in response.headers["Location"]


async def test_logout_with_a_hint_ends_everything_and_redirects_with_state(client: Client, ann: dict) -> None:
    webapp = await tokens_for(client, "webapp")
    spa = await tokens_for(client, "spa")
    elsewhere = await login(client)  # a password-grant login: not this browser's
    assert await _signed_in(client)
    response = await client.get("/oauth/logout?" + _query(id_token_hint=webapp["id_token"],
                                                          post_logout_redirect_uri=SIGNED_OUT, state="s 1"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"{SIGNED_OUT}?state=s+1"
    assert "idp-session=;" in response.headers["Set-Cookie"] or "Max-Age=0" in response.headers["Set-Cookie"]
    assert not await _signed_in(client)
    for body in (webapp, spa):
        assert (await client.get("/oauth/userinfo", headers=bearer(body["access_token"]))).status_code == 401
    assert (await client.get("/users/me", headers=bearer(elsewhere["access_token"]))).status_code == 200


async def test_logout_with_a_hint_and_no_uri_shows_the_signed_out_page(client: Client, ann: dict) -> None:
    webapp = await tokens_for(client, "webapp")
    response = await client.get("/oauth/logout?" + _query(id_token_hint=webapp["id_token"]))
    assert response.status_code == 200 and "You are signed out" in await response.get_data(as_text=True)
    assert not await _signed_in(client)


@pytest.mark.parametrize("uri", [
    "https://evil.example/", "https://app.example.com/signed-out/", "https://app.example.com/callback",
    "https://app.example.com/signed-out?next=https://evil.example",
])
async def test_an_unregistered_post_logout_uri_is_never_redirected_to(client: Client, ann: dict, uri: str) -> None:
    webapp = await tokens_for(client, "webapp")
    for query in (_query(id_token_hint=webapp["id_token"], post_logout_redirect_uri=uri),
                  _query(client_id="webapp", post_logout_redirect_uri=uri),
                  _query(post_logout_redirect_uri=uri)):
        response = await client.get(f"/oauth/logout?{query}")
        assert response.status_code == 400 and "Location" not in response.headers
    assert await _signed_in(client)  # and nothing was ended


async def test_without_a_hint_logout_asks_first(client: Client, ann: dict) -> None:
    await tokens_for(client, "webapp")
    page = await client.get("/oauth/logout?" + _query(client_id="webapp", post_logout_redirect_uri=SIGNED_OUT,
                                                      state="xyz"))
    assert page.status_code == 200 and "Sign out?" in await page.get_data(as_text=True)
    assert "https://app.example.com" in page.headers["Content-Security-Policy"]
    assert await _signed_in(client)  # a GET alone ended nothing
    response = await submit(client, page)
    assert response.headers["Location"] == f"{SIGNED_OUT}?state=xyz"
    assert not await _signed_in(client)


async def test_the_confirmation_needs_its_csrf_token(client: Client, ann: dict) -> None:
    await tokens_for(client, "webapp")
    response = await client.post("/oauth/logout", form={"csrf_token": "forged"})
    assert response.status_code == 400
    assert await _signed_in(client)


async def test_a_forged_or_foreign_hint_is_refused(client: Client, ann: dict) -> None:
    webapp = await tokens_for(client, "webapp")
    forged = webapp["id_token"][:-4] + ("AAAA" if not webapp["id_token"].endswith("AAAA") else "BBBB")
    for query in (_query(id_token_hint=forged, post_logout_redirect_uri=SIGNED_OUT),
                  _query(id_token_hint=webapp["access_token"]),  # an access token is no ID token
                  _query(id_token_hint=webapp["id_token"], client_id="spa")):
        response = await client.get(f"/oauth/logout?{query}")
        assert response.status_code == 400 and "Location" not in response.headers
    assert await _signed_in(client)


def _query(**params: str) -> str:
    return urlencode(params)


async def test_logout_after_signing_in_again_still_ends_the_earlier_logins(client: Client, ann: dict) -> None:
    """prompt=login makes a new browser session; the logins of the one it replaced must
    still end at logout."""
    first = await tokens_for(client, "spa")
    again = await tokens_for(client, "webapp", prompt="login")
    response = await client.get("/oauth/logout?" + _query(id_token_hint=again["id_token"]))
    assert response.status_code == 200
    for body in (first, again):
        assert (await client.get("/oauth/userinfo", headers=bearer(body["access_token"]))).status_code == 401


async def test_browser_sign_in_and_logout_are_audit_events(client: Client, ann: dict,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="idp.audit")
    webapp = await tokens_for(client, "webapp")
    await client.get("/oauth/logout?" + _query(id_token_hint=webapp["id_token"]))
    events = [(r.fields["event"], r.fields) for r in caplog.records if r.name == "idp.audit"]
    signed_in = [f for name, f in events if name == "login.succeeded" and f.get("via") == "browser"]
    logged_out = [f for name, f in events if name == "logout" and f.get("ended") == "browser_session"]
    assert len(signed_in) == 1 and signed_in[0]["user_id"] == ann["id"]
    assert len(logged_out) == 1 and logged_out[0]["sid"] == signed_in[0]["sid"]
    # the app's own login, which the hint named, is an event of its own
    by_hint = [f for name, f in events if name == "logout" and f.get("via") == "id_token_hint"]
    assert [(f["user_id"], f["client_id"], f["ended"]) for f in by_hint] == [(ann["id"], "webapp", "login")]


# -- whose hint it is ----------------------------------------------------------------------------

async def test_another_persons_hint_asks_first_and_ends_only_this_browser(app: object, client: Client,
                                                                          ann: dict) -> None:
    """Bob's ID token sent to Ann's browser: nothing ends by the GET; her confirmation
    ends her browser session, and Bob's login stays."""
    from tests.helpers import register

    await register(client, "bob@example.com", name="Bob")
    bobs_browser = app.test_client()  # type: ignore[attr-defined]
    verifier, challenge = pkce()
    code = answer(await sign_in(bobs_browser, authorize_params("webapp", challenge), email="bob@example.com"))["code"]
    bob = await (await redeem(bobs_browser, code, verifier)).get_json()
    anns = await tokens_for(client, "webapp")
    page = await client.get("/oauth/logout?" + _query(id_token_hint=bob["id_token"],
                                                      post_logout_redirect_uri=SIGNED_OUT, state="s"))
    assert page.status_code == 200 and "Sign out?" in await page.get_data(as_text=True)
    assert await _signed_in(client)
    assert (await client.get("/oauth/userinfo", headers=bearer(bob["access_token"]))).status_code == 200
    response = await submit(client, page, False)
    assert response.status_code == 303 and response.headers["Location"] == f"{SIGNED_OUT}?state=s"
    assert not await _signed_in(client)
    assert (await client.get("/oauth/userinfo", headers=bearer(anns["access_token"]))).status_code == 401
    assert (await client.get("/oauth/userinfo", headers=bearer(bob["access_token"]))).status_code == 200
    assert await _signed_in(bobs_browser)


async def test_an_expired_hint_asks_first(client: Client, ann: dict, clock: ManualClock) -> None:
    webapp = await tokens_for(client, "webapp")
    clock.advance(3600 * 2)
    page = await client.get("/oauth/logout?" + _query(id_token_hint=webapp["id_token"]))
    assert page.status_code == 200 and "Sign out?" in await page.get_data(as_text=True)
    assert await _signed_in(client)


async def test_a_hint_in_a_browser_nobody_signed_in_to_ends_nothing(app: object, client: Client, ann: dict) -> None:
    webapp = await tokens_for(client, "webapp")
    stranger = app.test_client()  # type: ignore[attr-defined]
    page = await stranger.get("/oauth/logout?" + _query(id_token_hint=webapp["id_token"]))
    assert page.status_code == 200 and "Sign out?" in await page.get_data(as_text=True)
    await submit(stranger, page)
    assert await _signed_in(client)
    assert (await client.get("/oauth/userinfo", headers=bearer(webapp["access_token"]))).status_code == 200
