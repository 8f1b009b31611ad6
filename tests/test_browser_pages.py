"""The hosted pages in a real browser, without JavaScript: keyboard use, CSRF, the CSP that
lets a form's answer reach the app, refusal to be framed, and a phone-width layout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from idp.app import create_app
from idp.settings import Settings
from tests import pages_routes
from tests.browser import OtherOrigin, browser_page, chromium, other_origin, serve_in_thread  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def base(settings: Settings) -> Iterator[str]:
    app = create_app(settings)
    app.register_blueprint(pages_routes.bp)
    with serve_in_thread(app) as url:
        yield url


def test_login_with_the_keyboard_alone(browser_page: Any, base: str) -> None:
    page = browser_page
    page.goto(f"{base}/_test/login")
    assert page.evaluate("document.activeElement.id") == "email"  # autofocus, no script needed
    page.keyboard.type("ann@example.com")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type("correct horse battery staple")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/_test/form")
    assert page.inner_text("body") == "accepted email password request_id"


def test_a_form_without_its_cookie_is_refused_with_a_page(browser_page: Any, base: str) -> None:
    page = browser_page
    page.goto(f"{base}/_test/login")
    page.context.clear_cookies()
    page.get_by_label("E-mail").fill("ann@example.com")
    page.get_by_label("Password").fill("x")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("heading").inner_text() == "This form cannot be accepted"


def test_the_consent_answer_may_redirect_to_the_app(browser_page: Any, base: str, other_origin: str) -> None:
    page = browser_page
    page.goto(f"{base}/_test/consent?next={other_origin}/callback?code=c")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{other_origin}/callback?code=c")
    assert page.inner_text("h1") == "landed"


def test_a_form_cannot_redirect_anywhere_else(browser_page: Any, base: str, other_origin: str) -> None:
    """form-action also holds the redirect after a form post: without the app's redirect
    URI in form_targets the browser stops there (why render_page takes form_targets)."""
    page = browser_page
    page.goto(f"{base}/_test/consent?next={other_origin}/callback&forget_target=1")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_timeout(500)
    assert "/callback" not in OtherOrigin.seen


def test_pages_refuse_to_be_framed(browser_page: Any, base: str, other_origin: str) -> None:
    OtherOrigin.frame_target = f"{base}/_test/login"
    page = browser_page
    page.goto(f"{other_origin}/framer")
    page.wait_for_timeout(500)
    frame = page.frames[1]
    assert "Sign in" not in frame.content()


@pytest.mark.parametrize("name, path, viewport", [
    ("login-phone", "/_test/login?email=ann@example.com&error=The+e-mail+or+password+is+not+right.", PHONE),
    ("consent-phone", "/_test/consent", PHONE),
])
def test_pages_fit_a_phone(browser_page: Any, base: str, name: str, path: str, viewport: dict[str, int] | None) -> None:
    """Styled, and no sideways scrolling at phone width. (The README's pictures come from
    scripts/screenshots, which drives a real `idp serve`, not these test-only routes.)"""
    page = browser_page
    if viewport:
        page.set_viewport_size(viewport)
    page.goto(f"{base}{path}")
    assert page.evaluate("getComputedStyle(document.querySelector('main')).borderRadius") == "12px"  # styled
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll

