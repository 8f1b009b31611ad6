"""Browser sign-in over HTTP: the authorization endpoint, its pages, the code exchange with
PKCE, ID tokens and userinfo, and the attacks the RFCs list against them."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from tests.authorize_flow import (
    BROWSER_CLIENTS, ISSUER, answer, at_hash, authorize_params, authorize_url, follow, page_form, pkce, redeem,
    sign_in, submit, tokens_for, verify_id_token,
)
from tests.conftest import CLIENTS, ManualClock
from tests.helpers import PASSWORD, bearer, login, post_form, refresh, register


# redirect URIs registered, but not the authorization_code grant
LEGACY = {"client_id": "legacy", "client_secret": None, "token_endpoint_auth_method": "none",
          "grant_types": ["password"], "scope": "account", "redirect_uris": ["https://legacy.example.com/cb"]}


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(CLIENTS + BROWSER_CLIENTS + [LEGACY]))
    return path


async def _page(client: Client, params: dict[str, str]) -> tuple[int, str]:
    response = await client.get(authorize_url(params))
    return response.status_code, await response.get_data(as_text=True)


# -- the whole flow ------------------------------------------------------------------------------

async def test_sign_in_consent_code_tokens_userinfo(client: Client, ann: dict) -> None:
    verifier, challenge = pkce()
    params = authorize_params("webapp", challenge)
    page = await client.get(authorize_url(params))
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "form-action 'self' https://app.example.com" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    consent = await submit(client, page, email="ann@example.com", password=PASSWORD)
    text = await consent.get_data(as_text=True)
    assert consent.status_code == 200 and "webapp" in text and "See your e-mail address" in text
    query = answer(await submit(client, consent, decision="allow"))
    assert query["state"] == params["state"] and query["iss"] == ISSUER
    response = await redeem(client, query["code"], verifier)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.get_json()
    assert body["token_type"] == "Bearer" and body["scope"] == "openid profile email" and body["refresh_token"]
    claims = await verify_id_token(client, body["id_token"], "webapp")
    assert claims["sub"] == ann["id"] and claims["azp"] == "webapp" and claims["nonce"] == params["nonce"]
    assert claims["at_hash"] == at_hash(body["access_token"])
    assert isinstance(claims["sid"], str) and isinstance(claims["auth_time"], int)
    info = await client.get("/oauth/userinfo", headers=bearer(body["access_token"]))
    assert await info.get_json() == {"sub": ann["id"], "name": "Ann", "email": "ann@example.com",
                                     "email_verified": False}
    posted = await client.post("/oauth/userinfo", headers=bearer(body["access_token"]))
    assert posted.status_code == 200


async def test_userinfo_gives_only_what_the_scope_allows(client: Client, ann: dict) -> None:
    body = await tokens_for(client, "webapp", scope="openid")
    info = await client.get("/oauth/userinfo", headers=bearer(body["access_token"]))
    assert await info.get_json() == {"sub": ann["id"]}


async def test_userinfo_refuses_tokens_without_openid(client: Client, ann: dict) -> None:
    assert (await client.get("/oauth/userinfo")).status_code == 401
    bad = await client.get("/oauth/userinfo", headers=bearer("nope"))
    assert bad.status_code == 401 and "invalid_token" in bad.headers["WWW-Authenticate"]
    account_only = await login(client)  # the password grant, scope account profile
    refused = await client.get("/oauth/userinfo", headers=bearer(account_only["access_token"]))
    assert refused.status_code == 403 and "insufficient_scope" in refused.headers["WWW-Authenticate"]


async def test_no_openid_no_id_token(client: Client, ann: dict) -> None:
    body = await tokens_for(client, "webapp", scope="account")
    assert "id_token" not in body
    assert (await client.get("/users/me", headers=bearer(body["access_token"]))).status_code == 200


async def test_public_spa_and_native_clients(client: Client, ann: dict) -> None:
    spa = await tokens_for(client, "spa")
    assert spa["refresh_token"] and spa["id_token"]
    native = await tokens_for(client, "native")
    assert "refresh_token" not in native  # the client has no refresh_token grant
    assert (await client.get("/oauth/userinfo", headers=bearer(native["access_token"]))).status_code == 200


async def test_refresh_and_revocation_of_a_browser_login(client: Client, ann: dict) -> None:
    body = await tokens_for(client, "spa")
    renewed = await refresh(client, body["refresh_token"], "spa")
    assert renewed.status_code == 200
    new = await renewed.get_json()
    assert (await post_form(client, "/oauth/revoke", {"token": new["refresh_token"], "client_id": "spa"})).status_code == 200
    assert (await client.get("/oauth/userinfo", headers=bearer(new["access_token"]))).status_code == 401


async def test_first_party_clients_skip_consent(client: Client, ann: dict) -> None:
    response = await sign_in(client, authorize_params("mine"), allow=False)
    assert "code" in answer(response)


# -- consent ----------------------------------------------------------------------------------------

async def test_consent_is_remembered_and_asked_again_for_more(client: Client, ann: dict) -> None:
    await tokens_for(client, "webapp", scope="openid profile")
    assert "code" in answer(await client.get(authorize_url(authorize_params("webapp", scope="openid"))))
    assert "code" in answer(await client.get(authorize_url(authorize_params("webapp", scope="openid profile"))))
    status, text = await _page(client, authorize_params("webapp", scope="openid profile email"))
    assert status == 200 and 'name="decision"' in text and "See your e-mail address" in text
    status, text = await _page(client, authorize_params("webapp", scope="openid", prompt="consent"))
    assert status == 200 and 'name="decision"' in text


async def test_denying_answers_access_denied(client: Client, ann: dict) -> None:
    params = authorize_params("webapp")
    query = answer(await sign_in(client, params, allow=False))
    assert query["error"] == "access_denied" and query["state"] == params["state"] and query["iss"] == ISSUER
    assert "code" not in query


# -- prompt, max_age, login_hint --------------------------------------------------------------------

async def test_prompt_none(client: Client, ann: dict) -> None:
    query = answer(await client.get(authorize_url(authorize_params("webapp", prompt="none"))))
    assert query["error"] == "login_required" and query["iss"] == ISSUER
    await sign_in(client, authorize_params("webapp", scope="openid"))
    query = answer(await client.get(authorize_url(authorize_params("webapp", scope="openid email", prompt="none"))))
    assert query["error"] == "consent_required"
    assert "code" in answer(await client.get(authorize_url(authorize_params("webapp", scope="openid", prompt="none"))))


async def test_prompt_login_asks_for_the_password_again_once(client: Client, ann: dict, clock: ManualClock) -> None:
    await sign_in(client, authorize_params("mine"))
    clock.advance(30)
    params = authorize_params("mine", prompt="login")
    page = await client.get(authorize_url(params))
    assert b'name="password"' in await page.get_data()
    # the password was checked just now: no second login form, the app gets its code
    assert "code" in answer(await submit(client, page, email="ann@example.com", password=PASSWORD))


async def test_max_age(client: Client, ann: dict, clock: ManualClock) -> None:
    await sign_in(client, authorize_params("mine"))
    clock.advance(120)
    assert "code" in answer(await client.get(authorize_url(authorize_params("mine", max_age="600"))))
    page = await client.get(authorize_url(authorize_params("mine", max_age="60")))
    assert page.status_code == 200 and b'name="password"' in await page.get_data()
    query = answer(await submit(client, page, email="ann@example.com", password=PASSWORD))
    assert "code" in query


async def test_login_hint_fills_the_email(client: Client) -> None:
    status, text = await _page(client, authorize_params("webapp", login_hint="bob@example.com"))
    assert status == 200 and 'value="bob@example.com"' in text


# -- the login form ------------------------------------------------------------------------------------

async def test_wrong_password_and_unknown_email_get_one_message(client: Client, ann: dict) -> None:
    texts = []
    for email, password in (("ann@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)):
        page = await client.get(authorize_url(authorize_params("webapp")))
        again = await submit(client, page, email=email, password=password)
        assert again.status_code == 200
        text = await again.get_data(as_text=True)
        assert 'name="password"' in text and "idp-session" not in again.headers.get("Set-Cookie", "")
        texts.append(text.replace(email, "EMAIL"))
    assert texts[0].split("<form")[0] == texts[1].split("<form")[0]
    assert "wrong" in texts[0]


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures": 2}])
async def test_the_login_page_is_throttled_like_the_password_grant(client: Client, ann: dict) -> None:
    params = authorize_params("webapp")
    for _ in range(2):
        page = await client.get(authorize_url(params))
        await submit(client, page, email="ann@example.com", password="wrong password!")
    page = await client.get(authorize_url(params))
    throttled = await submit(client, page, email="ann@example.com", password=PASSWORD)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert "Try again in" in await throttled.get_data(as_text=True)
    assert (await client.get(authorize_url(authorize_params("webapp", prompt="none")))).status_code == 302


async def test_login_csrf_is_refused(client: Client, ann: dict) -> None:
    """A form posted from another site has no valid token: nobody is signed in by it."""
    page = await client.get(authorize_url(authorize_params("webapp")))
    _, hidden = await page_form(page)
    hidden["csrf_token"] = "forged"
    response = await post_form(client, "/oauth/authorize", {**hidden, "email": "ann@example.com",
                                                           "password": PASSWORD})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "idp-session" not in response.headers.get("Set-Cookie", "")


async def test_pages_refuse_framing(client: Client) -> None:
    page = await client.get(authorize_url(authorize_params("webapp")))
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


async def test_the_session_cookie(client: Client, ann: dict) -> None:
    page = await client.get(authorize_url(authorize_params("mine")))
    response = await submit(client, page, False, email="ann@example.com", password=PASSWORD)
    assert response.status_code == 303
    cookie = next(v for k, v in response.headers.items() if k.lower() == "set-cookie" and "idp-session=" in v)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path"} <= attributes and "samesite=lax" in cookie.lower() and "secure" not in attributes


@pytest.mark.parametrize("settings_overrides", [{"issuer": "https://id.example.com"}])
async def test_the_session_cookie_is_secure_under_https(client: Client, ann: dict) -> None:
    page = await client.get(authorize_url(authorize_params("mine")), scheme="https")
    response = await submit(client, page, False, email="ann@example.com", password=PASSWORD)
    assert response.status_code == 303
    cookie = next(v for k, v in response.headers.items() if k.lower() == "set-cookie" and "idp-session=" in v)
    assert cookie.startswith("__Host-idp-session=") and "Secure" in cookie
    assert answer(await follow(client, response, scheme="https"))["iss"] == "https://id.example.com"


async def test_a_password_change_elsewhere_ends_the_browser_session(client: Client, ann: dict) -> None:
    browser_login = await tokens_for(client, "mine")
    other = await login(client)
    changed = await client.patch("/users/me", json={"password": "another good password", "current_password": PASSWORD},
                                 headers=bearer(other["access_token"]))
    assert changed.status_code == 200
    status, text = await _page(client, authorize_params("mine"))
    assert status == 200 and 'name="password"' in text
    assert (await client.get("/oauth/userinfo", headers=bearer(browser_login["access_token"]))).status_code == 401


async def test_the_cookie_is_no_refresh_token(client: Client, ann: dict) -> None:
    page = await client.get(authorize_url(authorize_params("mine")))
    response = await submit(client, page, False, email="ann@example.com", password=PASSWORD)
    assert response.status_code == 303
    cookie = next(v for k, v in response.headers.items() if k.lower() == "set-cookie" and "idp-session=" in v)
    value = cookie.split(";")[0].split("=", 1)[1]
    for client_id in ("web", "mine"):
        refused = await refresh(client, value, client_id)
        assert refused.status_code == 400 and (await refused.get_json())["error"] == "invalid_grant"


# -- errors that must never redirect ------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    {"client_id": "nobody"},
    {"client_id": None},
    {"redirect_uri": "https://app.example.com/callback/"},
    {"redirect_uri": "https://app.example.com/callbacK"},
    {"redirect_uri": "https://app.example.com/callback?x=1"},
    {"redirect_uri": "https://APP.example.com/callback"},
    {"redirect_uri": "https://app.example.com.evil.example/callback"},
    {"redirect_uri": "http://app.example.com/callback"},
    {"redirect_uri": None},  # webapp registered two: which one is not guessed
])
async def test_an_untrusted_client_or_redirect_uri_gets_a_page_never_a_redirect(client: Client, change: dict) -> None:
    params = {k: v for k, v in {**authorize_params("webapp"), **change}.items() if v is not None}
    response = await client.get(authorize_url(params))
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "Location" not in response.headers


async def test_redirect_uri_may_be_left_out_when_only_one_is_registered(client: Client, ann: dict) -> None:
    verifier, challenge = pkce()
    query = answer(await sign_in(client, authorize_params("spa", challenge, redirect_uri=None)))
    # the token request then need not send one either
    assert (await redeem(client, query["code"], verifier, "spa", redirect_uri=None)).status_code == 200


@pytest.mark.parametrize("change, error", [
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": "short"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": None}, "unsupported_response_type"),
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"prompt": "select_account"}, "invalid_request"),
    ({"max_age": "-1"}, "invalid_request"),
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"request": "eyJ.x.y"}, "request_not_supported"),
])
async def test_other_errors_redirect_with_state_and_iss(client: Client, change: dict, error: str) -> None:
    params = authorize_params("webapp", **change)
    response = await client.get(authorize_url(params))
    assert response.headers["Location"].startswith("https://app.example.com/callback?")
    query = answer(response)
    assert query["error"] == error and query["state"] == params["state"] and query["iss"] == ISSUER
    assert query["error_description"]


async def test_a_parameter_sent_twice_is_refused(client: Client) -> None:
    params = authorize_params("webapp")
    response = await client.get(authorize_url(params) + "&scope=openid")
    assert answer(response)["error"] == "invalid_request"
    response = await client.get(authorize_url(params) + "&client_id=spa")
    assert response.status_code == 400 and "Location" not in response.headers


async def test_a_client_without_the_code_grant_is_unauthorized(client: Client, ann: dict) -> None:
    response = await client.get(authorize_url(authorize_params("web", redirect_uri=None, scope=None)))
    assert response.status_code == 400  # "web" has no redirect URI: nowhere to send the error
    params = authorize_params("legacy", redirect_uri="https://legacy.example.com/cb", scope=None)
    assert answer(await client.get(authorize_url(params)))["error"] == "unauthorized_client"
    # nor can it redeem a code of its own at the token endpoint
    refused = await post_form(client, "/oauth/token", {"grant_type": "authorization_code", "code": "x" * 43,
                                                      "code_verifier": "y" * 43, "client_id": "legacy"})
    assert (await refused.get_json())["error"] == "unauthorized_client"


# -- the code at the token endpoint ---------------------------------------------------------------------

async def _code(client: Client, client_id: str = "webapp") -> tuple[str, str]:
    verifier, challenge = pkce()
    return answer(await sign_in(client, authorize_params(client_id, challenge)))["code"], verifier


async def test_a_code_works_once_and_its_replay_ends_the_login(client: Client, ann: dict) -> None:
    code, verifier = await _code(client)
    first = await (await redeem(client, code, verifier)).get_json()
    replay = await redeem(client, code, verifier)
    assert replay.status_code == 400 and (await replay.get_json())["error"] == "invalid_grant"
    assert (await client.get("/oauth/userinfo", headers=bearer(first["access_token"]))).status_code == 401
    assert (await refresh(client, first["refresh_token"], "webapp")).status_code in (400, 401)


async def test_a_code_expires_after_a_minute(client: Client, ann: dict, clock: ManualClock) -> None:
    code, verifier = await _code(client)
    clock.advance(61)
    response = await redeem(client, code, verifier)
    assert response.status_code == 400 and (await response.get_json())["error"] == "invalid_grant"


async def test_a_code_redeemed_by_another_client(client: Client, ann: dict) -> None:
    code, verifier = await _code(client, "spa")
    stolen = await redeem(client, code, verifier, "webapp")
    assert stolen.status_code == 400 and (await stolen.get_json())["error"] == "invalid_grant"
    assert (await redeem(client, code, verifier, "spa")).status_code == 200


async def test_a_code_redeemed_with_another_redirect_uri(client: Client, ann: dict) -> None:
    code, verifier = await _code(client)
    for uri in ("https://app.example.com/other", None):
        response = await redeem(client, code, verifier, redirect_uri=uri)
        assert response.status_code == 400 and (await response.get_json())["error"] == "invalid_grant"


async def test_pkce_is_required_at_the_token_endpoint(client: Client, ann: dict) -> None:
    code, verifier = await _code(client)
    missing = await redeem(client, code, None)
    assert missing.status_code == 400 and (await missing.get_json())["error"] == "invalid_request"
    wrong = await redeem(client, code, pkce()[0])
    assert wrong.status_code == 400 and (await wrong.get_json())["error"] == "invalid_grant"
    # the challenge was S256: sending the challenge itself as a plain verifier does not pass
    assert (await redeem(client, code, verifier)).status_code == 200


async def test_a_confidential_client_must_authenticate(client: Client, ann: dict) -> None:
    code, verifier = await _code(client)
    response = await post_form(client, "/oauth/token", {
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier, "client_id": "webapp",
        "redirect_uri": "https://app.example.com/callback"})
    assert response.status_code == 401


async def test_a_code_from_before_a_logout_is_refused(client: Client, ann: dict) -> None:
    code, verifier = await _code(client)
    page = await client.get("/oauth/logout")
    await submit(client, page)
    response = await redeem(client, code, verifier)
    assert response.status_code == 400 and (await response.get_json())["error"] == "invalid_grant"


# -- sign-up ---------------------------------------------------------------------------------------------

async def test_sign_up_from_the_login_page(client: Client) -> None:
    params = authorize_params("mine")
    page = await client.get(authorize_url(params))
    text = await page.get_data(as_text=True)
    assert "/oauth/signup?" in text
    signup_url = html.unescape(re.search(r'href="(/oauth/signup\?[^"]*)"', text)[1])
    form = await client.get(signup_url)
    assert form.status_code == 200
    bad = await submit(client, form, name="Bo", email="bo@example.com", password="password")
    assert bad.status_code == 400 and "most common" in await bad.get_data(as_text=True)
    done = await submit(client, bad, name="Bo", email="bo@example.com", password=PASSWORD)
    query = answer(done)
    assert query["state"] == params["state"] and "code" in query
    # the finished interaction's sign-up page is gone: start again from the app
    gone = await client.get(signup_url)
    assert gone.status_code == 400 and "start again" in await gone.get_data(as_text=True)
    text = await (await client.get(authorize_url(authorize_params("mine", prompt="login")))).get_data(as_text=True)
    signup_url = html.unescape(re.search(r'href="(/oauth/signup\?[^"]*)"', text)[1])
    taken = await submit(client, await client.get(signup_url), name="Bo", email="bo@example.com", password=PASSWORD)
    assert taken.status_code == 409


async def test_sign_up_needs_a_valid_request_and_csrf(client: Client) -> None:
    assert (await client.get("/oauth/signup?client_id=nobody")).status_code == 400
    response = await post_form(client, "/oauth/signup", {**authorize_params("mine"), "name": "Bo",
                                                         "email": "bo@example.com", "password": PASSWORD})
    assert response.status_code == 400
    await register(client, "bo@example.com")  # nothing was made by the refused form


async def test_request_values_are_escaped_in_the_pages(client: Client) -> None:
    hostile = '"><script>alert(1)</script>'
    status, text = await _page(client, authorize_params("webapp", state=hostile, login_hint=hostile))
    assert status == 200 and "<script>" not in text and "&lt;script&gt;" in text
