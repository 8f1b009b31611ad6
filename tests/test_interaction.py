"""The pending authorization kept on the server: forms carry only its id, so editing them
changes nothing; it expires and works once; and the browser sign-in rules that depend on
it (native apps, prompt=consent, loopback ports, POST authorization requests, display
names, pages that say what to do next)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from idp.logins.interaction import LIFETIME
from idp.settings import ConfigError
from idp.oauth.clients_file import read_clients_file
from tests.authorize_flow import (
    BROWSER_CLIENTS, CLIENTS_BY_ID, answer, authorize_params, authorize_url, follow, page_form, pkce, redeem,
    sign_in, submit,
)
from tests.conftest import CLIENTS, ManualClock
from tests.helpers import PASSWORD, post_form

LOOPBACK = {"client_id": "cli", "client_secret": None, "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"], "scope": "openid email", "first_party": True,
            "redirect_uris": ["http://127.0.0.1/callback"]}
IPV6 = {"client_id": "cli6", "client_secret": None, "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"], "scope": "openid", "redirect_uris": ["http://[::1]/cb"]}
NAMED = {"client_id": "photos-7f3a", "client_secret": "photos-secret-0123456789",
         "token_endpoint_auth_method": "client_secret_basic", "grant_types": ["authorization_code"],
         "scope": "openid email", "redirect_uris": ["https://photos.example.com/cb"],
         "post_logout_redirect_uris": ["https://photos.example.com/bye"],
         "client_name": "Holiday Photos", "client_uri": "https://photos.example.com/",
         "logo_uri": "https://cdn.example.com/photos.png", "policy_uri": "https://photos.example.com/privacy",
         "tos_uri": "https://photos.example.com/terms"}
CLIENTS_BY_ID.update({c["client_id"]: c for c in (LOOPBACK, IPV6, NAMED)})


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(CLIENTS + BROWSER_CLIENTS + [LOOPBACK, IPV6, NAMED]))
    return path


async def _text(response: object) -> str:
    return await response.get_data(as_text=True)  # type: ignore[attr-defined]


# -- the request is kept on the server ------------------------------------------------------------

async def test_the_forms_carry_only_the_interaction_its_step_and_the_csrf_token(client: Client) -> None:
    page = await client.get(authorize_url(authorize_params("webapp", prompt="login", max_age="0")))
    _, hidden = await page_form(page)
    assert set(hidden) == {"csrf_token", "interaction", "step"}
    assert len(hidden["interaction"]) >= 22  # at least 128 random bits, base64url


async def test_editing_the_hidden_fields_changes_nothing(client: Client, ann: dict) -> None:
    """The scope, the redirect URI, state and prompt are the ones the app sent, whatever
    the forms post: the code is for the stored request."""
    await sign_in(client, authorize_params("mine"))  # a browser session exists already
    verifier, challenge = pkce()
    params = authorize_params("webapp", challenge, scope="openid email", redirect_uri="https://app.example.com/other",
                              prompt="login")
    page = await client.get(authorize_url(params))
    assert b'name="password"' in await page.get_data()
    tampered = {"scope": "openid", "redirect_uri": "https://app.example.com/callback", "prompt": "",
                "max_age": "", "client_id": "spa", "state": "forged", "code_challenge": pkce()[1]}
    consent = await submit(client, page, email="ann@example.com", password=PASSWORD, **tampered)
    assert "See your e-mail address" in await _text(consent)  # the stored scope is the one asked
    response = await submit(client, consent, decision="allow", **tampered)
    assert response.headers["Location"].startswith("https://app.example.com/other?")
    query = answer(response)
    assert query["state"] == params["state"]
    redeemed = await redeem(client, query["code"], verifier, redirect_uri="https://app.example.com/other")
    assert redeemed.status_code == 200 and (await redeemed.get_json())["scope"] == "openid email"


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
async def test_skipping_the_login_form_cannot_drop_prompt_login_or_max_age(client: Client, ann: dict,
                                                                           clock: ManualClock, extra: dict) -> None:
    """Posting the consent step of the interaction instead of its login step (or the
    login step without a password) never yields a code: the login is still due."""
    await sign_in(client, authorize_params("mine"))
    clock.advance(5)
    page = await client.get(authorize_url(authorize_params("mine", **extra)))
    _, hidden = await page_form(page)
    assert hidden["step"] == "login"
    skipped = await post_form(client, "/oauth/authorize", {**hidden, "step": "consent", "decision": "allow"})
    assert skipped.status_code == 303 and skipped.headers["Location"].startswith("/")
    again = await follow(client, skipped)
    assert again.status_code == 200 and b'name="password"' in await again.get_data()
    empty = await post_form(client, "/oauth/authorize", {**hidden, "email": "", "password": ""})
    again = await follow(client, empty)
    assert again.status_code == 200 and b'name="password"' in await again.get_data()
    assert "code" in answer(await submit(client, again, email="ann@example.com", password=PASSWORD))


async def test_an_unknown_or_expired_interaction_says_to_start_again(client: Client, ann: dict,
                                                                    clock: ManualClock) -> None:
    for response in (await client.get("/oauth/authorize/continue?interaction=nope"),
                     await client.get("/oauth/authorize/continue"),
                     await client.get("/oauth/signup?interaction=nope")):
        text = await _text(response)
        assert response.status_code == 400 and "Go back to the app" in text and "start again" in text
    page = await client.get(authorize_url(authorize_params("webapp")))
    clock.advance(LIFETIME.total_seconds() + 1)
    late = await submit(client, page, email="ann@example.com", password=PASSWORD)
    assert late.status_code == 400 and "has expired" in await _text(late)
    assert "idp-session" not in late.headers.get("Set-Cookie", "")


async def test_an_interaction_gives_one_answer(client: Client, ann: dict) -> None:
    page = await client.get(authorize_url(authorize_params("mine")))
    posted = await submit(client, page, False, email="ann@example.com", password=PASSWORD)
    assert "code" in answer(await follow(client, posted))
    again = await client.get(posted.headers["Location"])  # Back to the page, or a reload
    assert again.status_code == 400 and "has expired" in await _text(again)


async def test_interactions_are_kept_by_id_with_a_ttl_index(app: object, client: Client) -> None:
    await client.get(authorize_url(authorize_params("webapp")))
    db = app.extensions["idp"].db  # type: ignore[attr-defined]
    docs = await db["interactions"].find().to_list(None)
    assert len(docs) == 1 and docs[0]["prompt"] == [] and docs[0]["scope"] == "openid profile email"
    indexes = await db["interactions"].index_information()
    assert any(spec.get("expireAfterSeconds") == 0 and spec["key"] == [("expires_at", 1)]
               for spec in indexes.values())


async def test_a_signed_in_browser_gets_its_code_without_storing_an_interaction(app: object, client: Client,
                                                                                ann: dict) -> None:
    await sign_in(client, authorize_params("mine"))
    assert "code" in answer(await client.get(authorize_url(authorize_params("mine"))))
    db = app.extensions["idp"].db  # type: ignore[attr-defined]
    assert await db["interactions"].count_documents({}) == 0


# -- every form post is answered with a redirect ---------------------------------------------------

async def test_every_form_post_is_answered_with_a_303(client: Client, ann: dict) -> None:
    page = await client.get(authorize_url(authorize_params("webapp")))
    wrong = await submit(client, page, False, email="ann@example.com", password="wrong password!")
    assert wrong.status_code == 303 and wrong.headers["Location"].startswith("/oauth/authorize/continue?")
    page = await follow(client, wrong)
    assert "wrong" in await _text(page)
    signed_in = await submit(client, page, False, email="ann@example.com", password=PASSWORD)
    assert signed_in.status_code == 303
    consent = await follow(client, signed_in)
    allowed = await submit(client, consent, False, decision="allow")
    assert allowed.status_code == 303 and allowed.headers["Location"].startswith("/")
    confirm = await client.get("/oauth/logout")
    out = await submit(client, confirm, False)
    assert out.status_code == 303 and out.headers["Location"] == "/oauth/logout/done"
    assert "You are signed out" in await _text(await follow(client, out))


async def test_sign_up_errors_come_back_through_a_redirect(client: Client) -> None:
    page = await client.get(authorize_url(authorize_params("mine")))
    signup_url = html.unescape(re.search(r'href="(/oauth/signup\?[^"]*)"', await _text(page))[1])
    form = await client.get(signup_url)
    bad = await submit(client, form, False, name="Bo", email="bo@example.com", password="password")
    assert bad.status_code == 303 and bad.headers["Location"] == signup_url
    shown = await follow(client, bad)
    assert shown.status_code == 400 and "most common" in await _text(shown)


# -- POST authorization requests (OIDC Core §3.1.2.1) ----------------------------------------------

async def test_a_posted_authorization_request_works_as_a_get(client: Client, ann: dict) -> None:
    verifier, challenge = pkce()
    params = authorize_params("mine", challenge)
    posted = await post_form(client, "/oauth/authorize", params)
    assert posted.status_code == 303
    page = await follow(client, posted)
    assert b'name="password"' in await page.get_data()
    query = answer(await submit(client, page, email="ann@example.com", password=PASSWORD))
    assert query["state"] == params["state"]
    assert (await redeem(client, query["code"], verifier, "mine")).status_code == 200
    # signed in now: the code at once, and errors as for a GET
    assert "code" in answer(await post_form(client, "/oauth/authorize", authorize_params("mine")))
    refused = answer(await post_form(client, "/oauth/authorize", authorize_params("mine", scope="openid admin")))
    assert refused["error"] == "invalid_scope"
    untrusted = await post_form(client, "/oauth/authorize", authorize_params("mine", redirect_uri="https://evil.example/"))
    assert untrusted.status_code == 400 and "Location" not in untrusted.headers


# -- native apps, loopback ports, prompt=consent ---------------------------------------------------

@pytest.mark.parametrize("port", ["51234", "8080", "1"])
async def test_a_loopback_redirect_matches_any_port(client: Client, ann: dict, port: str) -> None:
    verifier, challenge = pkce()
    uri = f"http://127.0.0.1:{port}/callback"
    query = answer(await sign_in(client, authorize_params("cli", challenge, redirect_uri=uri)))
    assert "code" in query
    assert (await redeem(client, query["code"], verifier, "cli", redirect_uri=uri)).status_code == 200


@pytest.mark.parametrize("uri", ["http://127.0.0.1:51234/other", "http://localhost:51234/callback",
                                 "http://127.0.0.1:99999/callback", "http://127.0.0.1:51234/callback?x=1",
                                 "https://127.0.0.1:51234/callback", "http://127.0.0.2:51234/callback"])
async def test_only_the_port_may_differ(client: Client, uri: str) -> None:
    response = await client.get(authorize_url(authorize_params("cli", redirect_uri=uri)))
    assert response.status_code == 400 and "Location" not in response.headers


@pytest.mark.parametrize("client_id", ["cli", "native"])
async def test_a_native_public_client_always_gets_a_page(client: Client, ann: dict, client_id: str) -> None:
    """First party (cli) or consent remembered (native): a page the person must answer
    every time, never a silent code (RFC 8252 §8.6)."""
    await sign_in(client, authorize_params(client_id))
    for _ in range(2):
        page = await client.get(authorize_url(authorize_params(client_id)))
        assert page.status_code == 200 and b'name="decision"' in await page.get_data()
        assert "code" in answer(await submit(client, page, decision="allow"))
    refused = answer(await client.get(authorize_url(authorize_params(client_id, prompt="none"))))
    assert refused["error"] == "consent_required"


async def test_prompt_consent_always_shows_consent_even_first_party(client: Client, ann: dict) -> None:
    await sign_in(client, authorize_params("mine"))
    page = await client.get(authorize_url(authorize_params("mine", prompt="consent")))
    assert page.status_code == 200 and b'name="decision"' in await page.get_data()
    assert answer(await submit(client, page, decision="deny"))["error"] == "access_denied"


async def test_an_ipv6_loopback_app_gets_its_answer_through_a_link(client: Client, ann: dict) -> None:
    """CSP cannot name [::1]: the page's form-action stays 'self', and the answer after a
    form comes as a page that links (and refreshes) to the app."""
    uri = "http://[::1]:4711/cb"
    page = await client.get(authorize_url(authorize_params("cli6", redirect_uri=uri)))
    csp = page.headers["Content-Security-Policy"]
    assert "form-action 'self';" in csp and "http:" not in csp
    consent = await submit(client, page, email="ann@example.com", password=PASSWORD)
    assert "form-action 'self';" in consent.headers["Content-Security-Policy"]
    done = await submit(client, consent, decision="allow")
    text = html.unescape(await _text(done))
    assert done.status_code == 200 and f'href="{uri}?code=' in text and 'http-equiv="refresh"' in text


# -- display members and pages that say what to do --------------------------------------------------

async def test_pages_show_the_client_name(client: Client, ann: dict) -> None:
    page = await client.get(authorize_url(authorize_params("photos-7f3a")))
    text = await _text(page)
    assert "Holiday Photos" in text and "photos-7f3a" not in text
    assert 'href="https://photos.example.com/privacy"' in text and 'src="https://cdn.example.com/photos.png"' in text
    assert "img-src 'self' https://cdn.example.com;" in page.headers["Content-Security-Policy"]
    consent = await submit(client, page, email="ann@example.com", password=PASSWORD)
    text = await _text(consent)
    assert "Allow" in text and "Holiday Photos" in text and "photos-7f3a" not in text
    logout = await client.get("/oauth/logout?client_id=photos-7f3a")
    assert "Holiday Photos asks to sign you out" in re.sub(r"<[^>]+>", "", await _text(logout))


def test_display_members_are_checked_in_the_clients_file(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    for member, value, message in (("logo_uri", "http://cdn.example.com/x.png", "https://"),
                                   ("client_uri", "javascript:alert(1)", "https://"),
                                   ("client_name", "", "at least 1"), ("tos_uri", 3, "string")):
        path.write_text(json.dumps([{**NAMED, member: value}]))
        with pytest.raises(ConfigError, match=f"client #1: {member}: .*{message}"):
            read_clients_file(path)
    path.write_text(json.dumps([NAMED]))
    assert read_clients_file(path)[0].client_name == "Holiday Photos"


async def test_error_pages_say_what_to_do_next(client: Client) -> None:
    unknown = await _text(await client.get(authorize_url({**authorize_params("webapp"), "client_id": "nobody"})))
    assert "Go back to the app" in unknown
    wrong = await client.get(authorize_url(authorize_params("photos-7f3a", redirect_uri="https://evil.example/cb")))
    text = await _text(wrong)
    assert wrong.status_code == 400 and "Go back to Holiday Photos" in text
    assert 'href="https://photos.example.com/"' in text
    for page in (unknown, text):
        assert "redirect_uri" not in page and "client_id" not in page


async def test_closed_sign_up_links_back_to_sign_in(client: Client, app: object) -> None:
    page = await client.get(authorize_url(authorize_params("mine")))
    signup_url = html.unescape(re.search(r'href="(/oauth/signup\?[^"]*)"', await _text(page))[1])
    object.__setattr__(app.extensions["idp"].settings, "self_registration", "closed")  # type: ignore[attr-defined]
    closed = await client.get(signup_url)
    assert closed.status_code == 403 and "/oauth/authorize/continue?" in await _text(closed)
