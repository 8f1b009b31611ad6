"""CSRF: every form POST must carry the token that matches its browser's cookie."""

from __future__ import annotations

import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.app import create_app
from idp.http.csrf import KEY_FILE, Csrf, load_key
from idp.settings import ConfigError, Settings
from tests import pages_routes
from tests.helpers import post_form

COOKIE = "idp-csrf"


@pytest.fixture(autouse=True)
def test_routes(app: Quart) -> None:
    app.register_blueprint(pages_routes.bp)


async def _token(client: Client, path: str = "/_test/login") -> str:
    html = await (await client.get(path)).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def test_a_form_with_its_token_is_accepted(client: Client) -> None:
    response = await client.get("/_test/login")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Max-Age" not in cookie and "Secure" not in cookie
    token = re.search(r'name="csrf_token" value="([^"]+)"', await response.get_data(as_text=True)).group(1)
    accepted = await post_form(client, "/_test/form", {"csrf_token": token, "email": "a@b.c"})
    assert accepted.status_code == 200
    assert await accepted.get_data(as_text=True) == "accepted email"


async def test_the_token_stays_the_same_for_the_browser(client: Client) -> None:
    first = await _token(client)
    second_response = await client.get("/_test/consent")
    assert "Set-Cookie" not in second_response.headers  # the cookie is set once
    assert await _token(client, "/_test/consent") == first


@pytest.mark.parametrize("fields", [
    {},
    {"csrf_token": ""},
    {"csrf_token": "x" * 43},
    {"csrf_token": "é"},
])
async def test_a_post_without_a_valid_token_is_refused_with_a_page(client: Client, fields: dict[str, str]) -> None:
    await _token(client)
    response = await post_form(client, "/_test/form", {**fields, "email": "a@b.c"})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    html = await response.get_data(as_text=True)
    assert "This form cannot be accepted" in html and "reload the page" in html
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_a_token_without_its_cookie_is_refused(app: Quart, client: Client) -> None:
    token = await _token(client)
    other_browser = app.test_client()
    response = await post_form(other_browser, "/_test/form", {"csrf_token": token})
    assert response.status_code == 400


async def test_a_token_for_another_cookie_is_refused(app: Quart, client: Client) -> None:
    """Login CSRF: the attacker's own valid pair does not work with the victim's cookie."""
    attacker_token = await _token(app.test_client())
    await _token(client)
    assert (await post_form(client, "/_test/form", {"csrf_token": attacker_token})).status_code == 400


async def test_a_json_post_is_refused(client: Client) -> None:
    token = await _token(client)
    response = await client.post("/_test/form", json={"csrf_token": token})
    assert response.status_code == 400 and response.mimetype == "text/html"


async def test_every_worker_and_restart_accepts_the_tokens_of_the_others(settings: Settings) -> None:
    """Workers are separate processes sharing the keys folder: each app here stands for one."""
    first, second = create_app(settings), create_app(settings)
    for app in (first, second):
        app.register_blueprint(pages_routes.bp)
    page = await first.test_client().get("/_test/login")
    cookie = page.headers["Set-Cookie"].split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True)).group(1)
    response = await post_form(second.test_client(), "/_test/form", {"csrf_token": token}, {"Cookie": cookie})
    assert response.status_code == 200


def test_the_key_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    key = load_key(folder)
    assert len(key) == 32 and stat.S_IMODE((folder / KEY_FILE).stat().st_mode) == 0o600
    assert load_key(folder) == key
    assert [p.name for p in folder.iterdir()] == [KEY_FILE]  # no temporary left behind


def test_an_unusable_key_stops_the_start_with_one_line(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_bytes(b"short")
    with pytest.raises(ConfigError, match="is not 32 bytes; delete it"):
        load_key(tmp_path)


def test_under_https_the_cookie_is_secure_and_host_only(settings: Settings) -> None:
    assert Csrf(b"k" * 32, secure=True).cookie_name == "__Host-idp-csrf"
    app = create_app(replace(settings, issuer="https://id.example.com"))
    assert app.extensions["idp.csrf"].secure

