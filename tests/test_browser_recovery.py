"""The whole password reset in a real browser (chromium, JavaScript off): forgot → the
message that arrived at a real SMTP server → its link → a new password → sign in with
it; the old password refused, the earlier logins ended. And the pages' screenshots."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from idp.app import create_app
from idp.settings import Settings
from tests.authorize_flow import pkce
from tests.browser import browser_page, chromium, other_origin, serve_in_thread  # noqa: F401 (fixtures)
from tests.conftest import CLIENTS
from tests.helpers import PASSWORD
from tests.mail_server import MailServer, link_in, smtp  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE = {"width": 375, "height": 740}
NEW_PASSWORD = "a brand new passphrase"
APP_ID = "photos"


@pytest.fixture
def settings_overrides(smtp: MailServer) -> dict[str, Any]:
    return {"smtp_url": smtp.url}


@pytest.fixture
def clients_file(tmp_path: Path, other_origin: str) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps([*CLIENTS, {
        "client_id": APP_ID, "client_secret": None, "token_endpoint_auth_method": "none", "first_party": True,
        "grant_types": ["authorization_code", "refresh_token"], "scope": "openid email",
        "redirect_uris": [f"{other_origin}/callback"],
    }]))
    return path


def opened(message: EmailMessage, settings: Settings, base: str) -> str:
    """The message's link (it starts with the issuer) on the port this test serves."""
    return base + link_in(message, settings.issuer).removeprefix(settings.issuer)


@pytest.fixture
def base(settings: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(settings)) as url:
        registered = httpx.post(f"{url}/users", json={"name": "Ann", "email": "ann@example.com",
                                                      "password": PASSWORD})
        assert registered.status_code == 201
        yield url


def authorize_url(base: str, origin: str) -> str:
    return f"{base}/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": APP_ID, "redirect_uri": f"{origin}/callback", "scope": "openid email",
        "state": "s", "code_challenge": pkce()[1], "code_challenge_method": "S256"})


def mail_with(smtp: MailServer, subject: str, timeout: float = 15) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in smtp.messages if m["Subject"] == subject]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no message {subject!r} arrived; got {[m['Subject'] for m in smtp.messages]}")


def sign_in(page: Any, password: str) -> None:
    page.get_by_label("E-mail").fill("ann@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    allow_if_asked(page)


def allow_if_asked(page: Any) -> None:
    """A public client answered on loopback is asked for consent every time (RFC 8252 §8.6)."""
    if page.get_by_role("button", name="Allow").count():
        page.get_by_role("button", name="Allow").click()


def shoot(page: Any, name: str) -> None:
    """Desktop and phone (375 px): styled, and nothing to scroll sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for suffix, viewport in (("", {"width": 720, "height": 600}), ("-phone", PHONE)):
        page.set_viewport_size(viewport)
        assert page.evaluate("getComputedStyle(document.querySelector('main')).borderRadius") == "12px"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot(path=str(SCREENSHOTS / f"{name}{suffix}.png"), full_page=True)
    page.set_viewport_size({"width": 720, "height": 600})


def test_forgot_mail_link_new_password_sign_in(browser_page: Any, chromium: Any, base: str, other_origin: str,
                                               smtp: MailServer, settings: Settings) -> None:
    # earlier logins: an app's refresh token, and a browser signed in elsewhere
    earlier = httpx.post(f"{base}/oauth/token", data={"grant_type": "password", "client_id": "web",
                                                      "username": "ann@example.com", "password": PASSWORD}).json()
    elsewhere = chromium.new_context(java_script_enabled=False).new_page()
    elsewhere.goto(authorize_url(base, other_origin))
    sign_in(elsewhere, PASSWORD)
    elsewhere.wait_for_url(f"{other_origin}/**")

    page = browser_page
    page.goto(authorize_url(base, other_origin))
    page.get_by_role("link", name="Forgot your password?").click()
    assert page.get_by_role("heading").inner_text() == "Forgot your password?"
    shoot(page, "forgot")
    page.get_by_label("E-mail").fill("ann@example.com")
    page.get_by_role("button", name="Send the link").click()
    assert page.get_by_role("heading").inner_text() == "Check your e-mail"
    shoot(page, "forgot-sent")

    link = opened(mail_with(smtp, "Reset your password"), settings, base)
    page.goto(link)
    assert page.get_by_role("heading").inner_text() == "Choose a new password"
    shoot(page, "reset")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    assert page.get_by_role("heading").inner_text() == "Your password was changed"
    shoot(page, "reset-done")
    page.go_back()  # the form answered with a redirect: Back shows the form, it posts nothing
    page.goto(link)
    assert page.get_by_role("heading").inner_text() == "This link no longer works"
    shoot(page, "reset-dead-link")

    assert mail_with(smtp, "Your password was changed")["To"] == "ann@example.com"
    refreshed = httpx.post(f"{base}/oauth/token", data={"grant_type": "refresh_token", "client_id": "web",
                                                        "refresh_token": earlier["refresh_token"]})
    assert refreshed.status_code == 400  # the app's login ended
    elsewhere.goto(authorize_url(base, other_origin))
    assert elsewhere.get_by_role("heading").inner_text() == "Sign in"  # the browser session ended
    elsewhere.context.close()

    page.goto(authorize_url(base, other_origin))
    sign_in(page, PASSWORD)
    assert page.get_by_role("alert").inner_text() == "The e-mail address or password is wrong."
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    allow_if_asked(page)
    page.wait_for_url(f"{other_origin}/**")
    assert "code=" in page.url


def test_the_verification_link_confirms_with_a_button(browser_page: Any, base: str, smtp: MailServer,
                                                      settings: Settings) -> None:
    page = browser_page
    link = opened(mail_with(smtp, "Confirm your e-mail address"), settings, base)
    page.goto(link)
    assert page.get_by_role("heading").inner_text() == "Confirm your e-mail address"
    shoot(page, "verify")
    page.get_by_role("button", name="Confirm my address").click()
    assert page.get_by_role("heading").inner_text() == "Your e-mail address is confirmed"
    shoot(page, "verify-done")
    page.goto(f"{base}/account/verify/resend")
    shoot(page, "verify-resend")
