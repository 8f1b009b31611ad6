"""The hosted pages: labelled, script-free, phone-ready HTML with their own CSP."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from markupsafe import escape
from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.app import create_app
from idp.http.pages import describe_scopes, page_csp
from idp.settings import ConfigError, Settings
from tests import pages_routes

PAGES = ["/_test/login", "/_test/consent", "/_test/signup?errors=1", "/_test/logout",
         "/_test/signed-out", "/_test/error"]


@pytest.fixture(autouse=True)
def test_routes(app: Quart) -> None:
    app.register_blueprint(pages_routes.bp)


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_is_plain_accessible_html(client: Client, path: str) -> None:
    response = await client.get(path)
    html = await response.get_data(as_text=True)
    assert response.status_code == (400 if path == "/_test/error" else 200)
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert '<html lang="en">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<link rel="stylesheet" href="/static/style.css">' in html
    assert "<script" not in html.lower() and not re.search(r"\son[a-z]+=", html, re.I)  # no JS at all
    for field_id in re.findall(r'<input id="([^"]+)"', html):
        assert f'<label for="{field_id}">' in html, f"{path}: field {field_id} has no label"
    for form in re.findall(r"<form .*?</form>", html, re.S):
        assert re.search(r'<input type="hidden" name="csrf_token" value="[A-Za-z0-9_-]{43}">', form)


@pytest.mark.parametrize("path", PAGES)
async def test_pages_allow_their_stylesheet_and_nothing_else(client: Client, path: str) -> None:
    response = await client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert csp == ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                   "frame-ancestors 'none'; base-uri 'none'")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_json_endpoints_keep_their_csp(client: Client) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


async def test_the_stylesheet_is_served(client: Client) -> None:
    response = await client.get("/static/style.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert (await client.get("/static/../pages.py")).status_code == 404
    assert (await client.get("/static/missing.css")).status_code == 404


@pytest.mark.parametrize("uri, source", [
    ("https://app.example.com/cb?x=1", "https://app.example.com"),
    ("https://App.Example.com:443/cb", "https://app.example.com"),
    ("http://127.0.0.1:8765/callback", "http://127.0.0.1:8765"),
    ("com.example.app:/callback", "com.example.app:"),
])
def test_a_form_may_redirect_to_the_app_it_answers(uri: str, source: str) -> None:
    assert f"form-action 'self' {source};" in page_csp([uri, uri])


@pytest.mark.parametrize("uri", ["http://[::1]:3000/cb", "http://[::1]/cb", "https://[2001:db8::1]/cb"])
def test_an_ipv6_literal_never_widens_form_action(uri: str) -> None:
    """CSP cannot name an IPv6 host; naming the scheme (http:) would let the page's forms
    post to any plain-http site, so the page names nothing more than itself."""
    assert "form-action 'self';" in page_csp([uri])


def test_a_logo_is_the_only_image_source_added() -> None:
    csp = page_csp([], ["https://cdn.example.com/logo.png"])
    assert "img-src 'self' https://cdn.example.com;" in csp and "default-src 'none'" in csp


async def test_values_are_escaped(client: Client) -> None:
    html = await (await client.get("/_test/login?email=%22%3E%3Cscript%3Ex%3C/script%3E")).get_data(as_text=True)
    assert "<script>" not in html and "&#34;&gt;&lt;script&gt;" in html


async def test_login_error_is_announced_and_tied_to_the_field(client: Client) -> None:
    html = await (await client.get("/_test/login?error=Wrong+e-mail+or+password.")).get_data(as_text=True)
    assert '<p class="alert" role="alert" id="form-error">Wrong e-mail or password.</p>' in html
    assert 'aria-describedby="form-error"' in html


async def test_consent_names_the_client_and_what_each_scope_allows(client: Client) -> None:
    html = await (await client.get("/_test/consent")).get_data(as_text=True)
    assert "Allow <strong>Example App</strong>?" in html
    for line in describe_scopes(pages_routes.SCOPE):
        assert f'<span class="scope-name">{line.name}</span> {escape(line.description)}</li>' in html
    assert 'name="decision" value="allow"' in html and 'name="decision" value="deny"' in html


def test_scope_descriptions() -> None:
    lines = {line.name: line.description for line in describe_scopes("email openid email custom:thing")}
    assert list(lines) == ["email", "openid", "custom:thing"]
    assert "e-mail address" in lines["email"]
    assert lines["custom:thing"] == "Use the permission “custom:thing” that this app is registered for."


async def test_an_operator_replaces_templates_and_stylesheet(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "pages"
    (folder / "templates").mkdir(parents=True)
    (folder / "static").mkdir()
    (folder / "templates" / "signed_out.html").write_text("<p>Bye from {{ client_name }}</p>")
    (folder / "static" / "style.css").write_text("body { color: red }")
    app = create_app(replace(settings, pages_dir=folder))
    app.register_blueprint(pages_routes.bp)
    client = app.test_client()
    assert await (await client.get("/_test/signed-out")).get_data(as_text=True) == "<p>Bye from Example App</p>"
    assert "Sign in" in await (await client.get("/_test/login")).get_data(as_text=True)  # still built in
    assert await (await client.get("/static/style.css")).get_data(as_text=True) == "body { color: red }"


def test_a_missing_pages_folder_stops_the_start(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(ConfigError, match="IDP_PAGES_DIR .* is not a folder"):
        create_app(replace(settings, pages_dir=tmp_path / "nowhere"))
