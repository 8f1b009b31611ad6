"""Second factors, passkeys and the account page in a real browser (Debian's chromium):
an authenticator app enrolled from the page's key and codes computed with pyotp; passkeys
with chromium's virtual authenticator (the DevTools WebAuthn domain); the account page
ending a login and an app. Also the screenshots of every new page, desktop and phone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pyotp
import pytest

from idp.app import create_app
from idp.settings import Settings
from tests.authorize_flow import pkce
from tests.browser import chromium, other_origin, serve_in_thread  # noqa: F401 (fixtures)
from tests.conftest import CLIENTS, free_port
from tests.helpers import PASSWORD

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
APP_ID = "photos"
# confidential: a public client answered on loopback is a native app, asked to consent every time
APP_SECRET = "photos-secret-0123456789"
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 375, "height": 740}


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings_overrides(port: int) -> dict[str, Any]:
    # a host name, not 127.0.0.1: passkeys need one (the RP id is the issuer's host)
    return {"issuer": f"http://localhost:{port}"}


@pytest.fixture
def clients_file(tmp_path: Path, other_origin: str) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps([*CLIENTS, {
        "client_id": APP_ID, "client_secret": APP_SECRET, "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile email",
        "redirect_uris": [f"{other_origin}/callback"],
    }]))
    return path


@pytest.fixture
def base(settings: Settings, port: int) -> Iterator[str]:
    with serve_in_thread(create_app(settings), port, host="localhost") as url:
        response = httpx.post(f"http://127.0.0.1:{port}/users",
                              json={"name": "Ann", "email": "ann@example.com", "password": PASSWORD})
        assert response.status_code == 201
        yield url


def new_page(chromium: Any, *, js: bool, width: dict[str, int] = DESKTOP) -> Any:
    context = chromium.new_context(java_script_enabled=js, viewport=width)
    return context.new_page()


def shoot(page: Any, name: str) -> None:
    """The page at desktop width and at 375 px (a phone)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(size)


def sign_in_with_password(page: Any, base: str) -> None:
    page.goto(f"{base}/account")
    page.get_by_label("E-mail").fill("ann@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out", exact=True).first.click()
    page.wait_for_url("**/account/sign-in")


def enter_code(page: Any, code: str) -> None:
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    page.get_by_role("button", name="Continue").click()


def wait_for_a_new_step(totp: pyotp.TOTP, after: str) -> str:
    """The next code that differs from `after` (codes are accepted once: wait for the next step)."""
    while (code := totp.now()) == after:
        time.sleep(0.5)
    return code


def test_an_authenticator_app_from_enrolment_to_sign_in(chromium: Any, base: str) -> None:
    page = new_page(chromium, js=False)
    page.goto(f"{base}/account")
    page.wait_for_url("**/account/sign-in")
    shoot(page, "account-sign-in")
    sign_in_with_password(page, base)
    page.wait_for_url("**/account")
    shoot(page, "account")
    page.get_by_role("button", name="Set up an authenticator app").click()
    page.wait_for_url("**/account/authenticator")
    assert page.locator(".qr svg").count() == 1
    shoot(page, "authenticator")
    totp = pyotp.TOTP(page.locator("#secret").inner_text().replace(" ", ""))
    page.get_by_label("Code the app shows").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Switch on").click()
    assert "not right" in page.locator(".alert").inner_text()
    used = totp.now()
    page.get_by_label("Code the app shows").fill(used)
    page.get_by_role("button", name="Switch on").click()
    page.wait_for_url("**/account/recovery-codes")
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10
    shoot(page, "recovery-codes")
    page.get_by_role("link", name="I have saved them — back to my account").click()
    page.wait_for_url("**/account#security")
    assert "10 recovery codes left" in page.locator("#security").inner_text()
    shoot(page, "account-with-app")
    sign_out(page)

    # a sign-in now asks for a code; the one already used is refused
    sign_in_with_password(page, base)
    page.wait_for_url("**/sign-in/second-step")
    shoot(page, "second-step")
    enter_code(page, used)
    assert "not right" in page.locator(".alert").inner_text()
    code = wait_for_a_new_step(totp, used)
    enter_code(page, code)
    page.wait_for_url("**/account")
    sign_out(page)

    # reused: refused
    sign_in_with_password(page, base)
    enter_code(page, code)
    assert "not right" in page.locator(".alert").inner_text()
    # a recovery code works once
    enter_code(page, codes[0])
    page.wait_for_url("**/account")
    assert "9 recovery codes left" in page.locator("#security").inner_text()
    sign_out(page)
    sign_in_with_password(page, base)
    enter_code(page, codes[0])
    assert "not right" in page.locator(".alert").inner_text()
    page.context.close()


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    made = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True}})
    return cdp, made["authenticatorId"]


def test_a_passkey_added_used_alone_and_removed(chromium: Any, base: str) -> None:
    page = new_page(chromium, js=True)
    cdp, authenticator = virtual_authenticator(page)
    sign_in_with_password(page, base)
    page.wait_for_url("**/account")
    page.get_by_label("Name of the new passkey").fill("Test laptop")
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_url("**/account?done=passkey_added#passkeys")
    assert "Test laptop" in page.locator("#passkeys").inner_text()
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1
    shoot(page, "account-with-passkey")
    sign_out(page)

    # sign in with the passkey and nothing else: no e-mail, no password, no second step. The
    # login page offers it in the e-mail field's autofill (conditional mediation), and the
    # virtual authenticator answers that at once, as a person picking the passkey would.
    page.goto(f"{base}/account/sign-in")
    page.wait_for_url("**/account", timeout=15000)
    assert "ann@example.com" in page.locator(".lead").first.inner_text()

    # a password now needs the passkey as the second step (the person ignores the autofill)
    presence = {"authenticatorId": authenticator, "enabled": False}
    cdp.send("WebAuthn.setAutomaticPresenceSimulation", presence)
    sign_out(page)
    sign_in_with_password(page, base)
    page.wait_for_url("**/sign-in/second-step")
    cdp.send("WebAuthn.setAutomaticPresenceSimulation", {**presence, "enabled": True})
    shoot(page, "second-step-passkey")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url("**/account")

    # remove it (the sign-in a moment ago counts as confirmation)
    page.get_by_role("button", name="Remove passkey Test laptop").click()
    page.wait_for_url("**/account?done=passkey_removed#passkeys")
    assert "Test laptop" not in page.locator("#passkeys").inner_text()
    assert cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    sign_out(page)  # the authenticator still has it, but the server no longer accepts it
    page.wait_for_timeout(1500)
    assert urlsplit(page.url).path != "/account"
    page.context.close()


class Rp:
    def __init__(self, base: str, origin: str) -> None:
        self.base, self.origin = base, origin
        self.verifier, self.challenge = pkce()

    def url(self) -> str:
        params = {"response_type": "code", "client_id": APP_ID, "redirect_uri": f"{self.origin}/callback",
                  "scope": "openid profile email", "state": "s-1", "code_challenge": self.challenge,
                  "code_challenge_method": "S256"}
        return f"{self.base}/oauth/authorize?{urlencode(params)}"

    def tokens(self, page: Any) -> dict[str, Any]:
        page.wait_for_url(f"{self.origin}/**")
        code = parse_qs(urlsplit(page.url).query)["code"][0]
        response = httpx.post(f"{self.base}/oauth/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": APP_ID, "client_secret": APP_SECRET,
            "redirect_uri": f"{self.origin}/callback", "code_verifier": self.verifier})
        assert response.status_code == 200, response.text
        self.verifier, self.challenge = pkce()
        return dict(response.json())

    def refreshes(self, refresh_token: str) -> int:
        return httpx.post(f"{self.base}/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": APP_ID,
            "client_secret": APP_SECRET}).status_code


def test_the_account_page_ends_a_login_and_an_app(chromium: Any, base: str, other_origin: str) -> None:
    rp = Rp(base, other_origin)
    page = new_page(chromium, js=False)
    page.goto(rp.url())
    page.get_by_label("E-mail").fill("ann@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("button", name="Allow").click()
    first = rp.tokens(page)
    page.goto(rp.url())  # consent remembered: straight back with a code
    second = rp.tokens(page)

    page.goto(f"{base}/account")
    logins = page.locator("#logins li")
    assert logins.count() == 3  # this browser and the two logins of the app
    assert page.locator("#apps").inner_text().count(APP_ID) == 1
    shoot(page, "account-logins")
    page.locator("#logins li", has_text=APP_ID).first.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/account?done=signed_out#logins")
    statuses = sorted([rp.refreshes(first["refresh_token"]), rp.refreshes(second["refresh_token"])])
    assert statuses == [200, 400]  # the one signed out is refused, the other still works
    assert page.locator("#logins li").count() == 2

    page.get_by_role("button", name=f"Remove {APP_ID}").click()
    page.wait_for_url("**/account?done=app_removed#apps")
    assert APP_ID not in page.locator("#apps").inner_text()
    assert page.locator("#logins li").count() == 1
    userinfo = httpx.get(f"{base}/oauth/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert userinfo.status_code == 401
    page.goto(rp.url())
    assert page.get_by_role("button", name="Allow").count() == 1  # consent is asked again
    page.context.close()
