"""Browser sign-in in a real browser (Debian's chromium, JavaScript off) against the app
served by Hypercorn: the flows issue 10 lists, from the app's redirect to the person's
pages and back to the app, and the README's screenshots of the real pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from idp.app import create_app
from idp.settings import Settings
from tests.authorize_flow import pkce
from tests.browser import browser_page, chromium, other_origin, serve_in_thread  # noqa: F401 (fixtures)
from tests.conftest import CLIENTS
from tests.helpers import PASSWORD

pytestmark = pytest.mark.browser

APP_ID = "photos"
APP_NAME = "Holiday Photos"
SECRET = "photos-secret-0123456789"
NATIVE_ID = "photos-desktop"


@pytest.fixture
def clients_file(tmp_path: Path, other_origin: str) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps([*CLIENTS, {
        # a web app with a back end: a public client on loopback would be a native app,
        # which is asked every time
        "client_id": APP_ID, "client_secret": SECRET, "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile email",
        "redirect_uris": [f"{other_origin}/callback"], "post_logout_redirect_uris": [f"{other_origin}/bye"],
        "client_name": APP_NAME,
    }, {
        "client_id": NATIVE_ID, "client_secret": None, "token_endpoint_auth_method": "none", "first_party": True,
        "grant_types": ["authorization_code"], "scope": "openid profile email",
        "redirect_uris": [f"{other_origin.rsplit(':', 1)[0]}/callback"],
    }]))
    return path


@pytest.fixture
def base(settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(settings)) as url:
        httpx.post(f"{url}/users", json={"name": "Ann", "email": "ann@example.com", "password": PASSWORD})
        yield url


class Rp:
    """What the app does around the browser: build the authorization URL, redeem the code."""

    def __init__(self, base: str, origin: str) -> None:
        self.base, self.origin = base, origin
        self.verifier, self.challenge = pkce()

    def url(self, **extra: str) -> str:
        params = {"response_type": "code", "client_id": APP_ID, "redirect_uri": f"{self.origin}/callback",
                  "scope": "openid profile email", "state": "s-1", "nonce": "n-1",
                  "code_challenge": self.challenge, "code_challenge_method": "S256", **extra}
        return f"{self.base}/oauth/authorize?{urlencode(params)}"

    def answer(self, page: Any) -> dict[str, str]:
        page.wait_for_url(f"{self.origin}/**")
        return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}

    def redeem(self, code: str) -> dict[str, Any]:
        response = httpx.post(f"{self.base}/oauth/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": APP_ID, "client_secret": SECRET,
            "redirect_uri": f"{self.origin}/callback", "code_verifier": self.verifier})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def rp(base: str, other_origin: str) -> Rp:
    return Rp(base, other_origin)


def _sign_in(page: Any, password: str = PASSWORD) -> None:
    page.get_by_label("E-mail").fill("ann@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _sign_in_and_allow(page: Any, rp: Rp) -> dict[str, str]:
    """From the app's authorization request to its redirect: sign in as Ann, allow."""
    page.goto(rp.url())
    _sign_in(page)
    page.get_by_role("button", name="Allow").click()
    return rp.answer(page)


def test_sign_in_consent_code_tokens_userinfo(browser_page: Any, rp: Rp) -> None:
    page = browser_page
    page.goto(rp.url())
    assert page.get_by_role("heading").inner_text() == "Sign in"
    _sign_in(page)
    assert page.get_by_role("heading").inner_text() == f"Allow {APP_NAME}?"
    page.get_by_role("button", name="Allow").click()
    answer = rp.answer(page)
    issuer = httpx.get(f"{rp.base}/.well-known/openid-configuration").json()["issuer"]
    assert answer["state"] == "s-1" and answer["iss"] == issuer
    tokens = rp.redeem(answer["code"])
    assert tokens["id_token"] and tokens["refresh_token"]
    info = httpx.get(f"{rp.base}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.json()["email"] == "ann@example.com"


def test_consent_is_remembered(browser_page: Any, rp: Rp) -> None:
    page = browser_page
    _sign_in_and_allow(page, rp)
    page.goto(rp.url(state="s-2"))
    answer = rp.answer(page)  # straight back: no login form, no consent page
    assert answer["state"] == "s-2" and "code" in answer


def test_wrong_password_then_right(browser_page: Any, rp: Rp) -> None:
    page = browser_page
    page.goto(rp.url())
    _sign_in(page, "not the password")
    assert page.get_by_role("alert").inner_text() == "The e-mail address or password is wrong."
    assert page.get_by_label("E-mail").input_value() == "ann@example.com"
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Allow").click()
    assert "code" in rp.answer(page)


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures": 2}])
def test_throttled_login_page(browser_page: Any, rp: Rp) -> None:
    page = browser_page
    page.goto(rp.url())
    for _ in range(2):
        _sign_in(page, "not the password")
    _sign_in(page)
    assert "Try again in" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("heading").inner_text() == "Sign in"


def test_prompt_none(browser_page: Any, rp: Rp) -> None:
    page = browser_page
    page.goto(rp.url(prompt="none"))
    assert rp.answer(page)["error"] == "login_required"
    _sign_in_and_allow(page, rp)
    page.goto(rp.url(prompt="none"))
    assert "code" in rp.answer(page)


def test_logout_through_the_end_session_endpoint(browser_page: Any, rp: Rp) -> None:
    page = browser_page
    tokens = rp.redeem(_sign_in_and_allow(page, rp)["code"])
    page.goto(f"{rp.base}/oauth/logout?" + urlencode({
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": f"{rp.origin}/bye", "state": "bye-1"}))
    page.wait_for_url(f"{rp.origin}/bye?state=bye-1")
    page.goto(rp.url(prompt="none"))
    assert rp.answer(page)["error"] == "login_required"
    refreshed = httpx.post(f"{rp.base}/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": APP_ID,
        "client_secret": SECRET})
    assert refreshed.status_code == 400


def test_sign_up_from_the_login_page(browser_page: Any, rp: Rp) -> None:
    page = browser_page
    page.goto(rp.url())
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Name").fill("Bo")
    page.get_by_label("E-mail").fill("bo@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("button", name="Allow").click()
    tokens = rp.redeem(rp.answer(page)["code"])
    info = httpx.get(f"{rp.base}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.json()["name"] == "Bo"


def test_the_session_cookie_ends_when_the_password_changes_elsewhere(browser_page: Any, rp: Rp) -> None:
    page = browser_page
    _sign_in_and_allow(page, rp)
    elsewhere = httpx.post(f"{rp.base}/oauth/token", data={
        "grant_type": "password", "username": "ann@example.com", "password": PASSWORD, "client_id": "web"}).json()
    changed = httpx.patch(f"{rp.base}/users/me", json={"password": "a new good password", "current_password": PASSWORD},
                          headers={"Authorization": f"Bearer {elsewhere['access_token']}"})
    assert changed.status_code == 200
    page.goto(rp.url())
    assert page.get_by_role("heading").inner_text() == "Sign in"


def test_a_native_app_on_loopback_is_asked_every_time(browser_page: Any, rp: Rp) -> None:
    """A public client on a loopback port, first party: still a page to answer, every
    time; its port is whatever it listens on."""
    page = browser_page
    _sign_in_and_allow(page, rp)
    for state in ("n-1", "n-2"):
        page.goto(rp.url(client_id=NATIVE_ID, state=state))
        assert page.get_by_role("heading").inner_text() == f"Allow {NATIVE_ID}?"
        page.get_by_role("button", name="Allow").click()
        assert rp.answer(page)["state"] == state


def test_back_after_consent_never_resubmits(browser_page: Any, rp: Rp) -> None:
    """Every form is answered with a redirect: going Back lands on a page (the finished
    sign-in says to start again), never on "Confirm Form Resubmission"."""
    page = browser_page
    _sign_in_and_allow(page, rp)
    page.go_back()
    assert page.get_by_role("heading").inner_text() in ("This sign-in page has expired", "Sign in")
    page.reload()
    assert page.get_by_role("heading").inner_text() in ("This sign-in page has expired", "Sign in")
