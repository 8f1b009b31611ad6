"""The account page and the second step at sign-in, through HTTP (the test client; the
browser tests drive the same pages in chromium)."""

from __future__ import annotations

import html
import re
from typing import Any

import jwt
import pyotp
import pytest
from quart.typing import TestClientProtocol as Client

from tests.authorize_flow import (
    BROWSER_CLIENTS, MINE, answer, authorize_params, authorize_url, page_form, pkce, redeem,
    verify_id_token,
)
from tests.conftest import ManualClock
from tests.authorize_flow import submit as submit_following
from tests.helpers import PASSWORD, password_grant, post_form, refresh

pytestmark = pytest.mark.parametrize("clients_file", [BROWSER_CLIENTS], indirect=True)

_SECRET = re.compile(r'<p class="secret" id="secret">([A-Z2-7 ]+)</p>')
_CODES = re.compile(r"<li><code>([a-z2-7-]+)</code></li>")


async def submit(client: Client, page: Any, **fields: str) -> Any:
    """Post the page's form and return its answer itself (not the page it redirects to)."""
    return await submit_following(client, page, follow_redirects=False, **fields)


async def text(response: Any) -> str:
    return str(await response.get_data(as_text=True))


async def csrf(client: Client, path: str = "/account") -> str:
    page = await text(await client.get(path))
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return html.unescape(found[1])


async def post(client: Client, path: str, **fields: str) -> Any:
    token = await csrf(client, "/account/sign-in")
    return await post_form(client, path, {"csrf_token": token, **fields})


async def sign_in(client: Client, password: str = PASSWORD) -> Any:
    page = await client.get("/account/sign-in")
    return await submit(client, page, email="ann@example.com", password=password)


async def enrol(client: Client, clock: ManualClock) -> tuple[pyotp.TOTP, list[str]]:
    assert (await sign_in(client)).headers["Location"] == "/account"
    begun = await post(client, "/account/authenticator/begin")
    assert begun.status_code == 303 and begun.headers["Location"] == "/account/authenticator"
    page = await text(await client.get("/account/authenticator"))
    assert "<svg" in page
    secret = _SECRET.search(page)
    assert secret, page
    totp = pyotp.TOTP(secret[1].replace(" ", ""))
    confirmed = await post(client, "/account/authenticator/confirm", code=totp.at(clock()))
    assert confirmed.headers["Location"] == "/account/recovery-codes"
    codes = _CODES.findall(await text(await client.get("/account/recovery-codes")))
    assert len(codes) == 10
    # shown once
    assert (await client.get("/account/recovery-codes")).status_code == 303
    await post(client, "/account/sign-out")
    clock.advance(30)
    return totp, codes


async def test_the_root_and_the_page_without_a_session(client: Client) -> None:
    assert (await client.get("/")).headers["Location"] == "/account"
    response = await client.get("/account")
    assert response.status_code == 303 and response.headers["Location"] == "/account/sign-in"


async def test_the_page_shows_the_person_with_the_login_page_headers(client: Client, ann: dict) -> None:
    signed = await sign_in(client)
    assert signed.status_code == 303 and signed.headers["Location"] == "/account"
    response = await client.get("/account")
    page = await text(response)
    assert response.status_code == 200 and "ann@example.com" in page and 'value="Ann"' in page
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["Cache-Control"] == "no-store"
    for section in ("profile", "email", "password", "security", "passkeys", "logins", "apps", "delete"):
        assert f'id="{section}"' in page
    assert page.count('name="csrf_token"') == page.count("<form")


async def test_every_form_needs_its_csrf_token(client: Client, ann: dict) -> None:
    await sign_in(client)
    response = await post_form(client, "/account/name", {"name": "Mallory"})
    assert response.status_code == 400
    assert 'value="Ann"' in await text(await client.get("/account"))


async def test_name_change_answers_with_a_redirect(client: Client, ann: dict) -> None:
    await sign_in(client)
    response = await post(client, "/account/name", name="  Ann Lee ")
    assert response.status_code == 303 and response.headers["Location"].startswith("/account?done=name")
    assert 'value="Ann Lee"' in await text(await client.get("/account"))
    bad = await post(client, "/account/name", name="")
    assert bad.status_code == 303 and "problem=invalid" in bad.headers["Location"]


async def test_credential_changes_need_a_recent_password(client: Client, ann: dict, clock: ManualClock) -> None:
    await sign_in(client)
    clock.advance(301)
    asked = await post(client, "/account/password", new_password="a brand new passphrase")
    assert "problem=confirm" in asked.headers["Location"]
    wrong = await post(client, "/account/password", new_password="a brand new passphrase", current_password="nope")
    assert "problem=wrong_password" in wrong.headers["Location"]
    assert (await password_grant(client, password=PASSWORD)).status_code == 200
    done = await post(client, "/account/password", new_password="a brand new passphrase",
                      current_password=PASSWORD)
    assert "done=password" in done.headers["Location"]
    assert (await password_grant(client, password="a brand new passphrase")).status_code == 200
    # the confirmation holds for 5 minutes
    clock.advance(200)
    assert "done=email" in (await post(client, "/account/email", email="ann@example.org")).headers["Location"]


async def test_an_authenticator_app_asks_for_a_code_after_the_password(client: Client, ann: dict,
                                                                      clock: ManualClock) -> None:
    totp, codes = await enrol(client, clock)
    step = await sign_in(client)
    assert step.status_code == 303 and step.headers["Location"] == "/sign-in/second-step"
    assert (await client.get("/account")).status_code == 303  # not signed in yet
    page = await client.get("/sign-in/second-step")
    assert 'name="code"' in await text(page)
    wrong = await submit(client, page, code="000000" if totp.now() != "000000" else "111111")
    assert wrong.status_code == 400
    code = totp.at(clock())
    done = await submit(client, page, code=code)
    assert done.status_code == 303 and done.headers["Location"] == "/account"
    assert (await client.get("/account")).status_code == 200
    # the same code, in another sign-in, is refused
    await post(client, "/account/sign-out")
    await sign_in(client)
    page = await client.get("/sign-in/second-step")
    assert (await submit(client, page, code=code)).status_code == 400
    # a recovery code works, once
    assert (await submit(client, page, code=codes[0])).headers["Location"] == "/account"
    await post(client, "/account/sign-out")
    await sign_in(client)
    page = await client.get("/sign-in/second-step")
    assert (await submit(client, page, code=codes[0])).status_code == 400


async def test_wrong_codes_count_against_the_password_throttle(client: Client, ann: dict,
                                                               clock: ManualClock) -> None:
    await enrol(client, clock)
    await sign_in(client)
    page = await client.get("/sign-in/second-step")
    statuses = [(await submit(client, page, code="abcdefgh")).status_code for _ in range(12)]
    assert statuses[0] == 400 and statuses[-1] == 429
    assert (await password_grant(client)).status_code == 429


async def test_the_password_grant_sends_such_accounts_to_the_browser(client: Client, ann: dict,
                                                                     clock: ManualClock) -> None:
    await enrol(client, clock)
    refused = await password_grant(client)
    body = await refused.get_json()
    assert refused.status_code == 400 and body["error"] == "invalid_grant"
    assert body["error_description"] == "this account uses a second factor: sign in through the browser"
    wrong = await (await password_grant(client, password="not the password")).get_json()
    assert "second factor" not in wrong["error_description"]


async def test_id_tokens_say_how_the_person_signed_in(client: Client, ann: dict, clock: ManualClock) -> None:
    verifier, challenge = pkce()
    params = authorize_params("webapp", challenge)
    page = await client.get(authorize_url(params))
    consent = await submit_following(client, page, email="ann@example.com", password=PASSWORD)
    code = answer(await submit_following(client, consent, decision="allow"))["code"]
    claims = await verify_id_token(client, (await (await redeem(client, code, verifier)).get_json())["id_token"],
                                   "webapp")
    assert claims["amr"] == ["pwd"]

    totp, _ = await enrol(client, clock)
    started = clock()
    verifier, challenge = pkce()
    page = await client.get(authorize_url(authorize_params("webapp", challenge)))
    step = await submit(client, page, email="ann@example.com", password=PASSWORD)
    assert step.headers["Location"] == "/sign-in/second-step"
    clock.advance(20)
    done = await submit_following(client, await client.get("/sign-in/second-step"), code=totp.at(clock()))
    code = answer(done)["code"]
    id_token = (await (await redeem(client, code, verifier)).get_json())["id_token"]
    claims = jwt.decode(id_token, options={"verify_signature": False})  # signed by the app's clock, ahead of now
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["auth_time"] >= int(started) + 20  # when the code was given, not the password


async def test_sign_a_login_out_and_remove_an_app(client: Client, ann: dict) -> None:
    verifier, challenge = pkce()
    page = await client.get(authorize_url(authorize_params("webapp", challenge)))
    consent = await submit_following(client, page, email="ann@example.com", password=PASSWORD)
    code = answer(await submit_following(client, consent, decision="allow"))["code"]
    app_tokens = await (await redeem(client, code, verifier)).get_json()
    page = await text(await client.get("/account"))
    assert "webapp" in page and "this browser" in page
    logins = re.findall(r'name="login" value="([^"]+)"', page)
    assert len(logins) == 2
    removed = await post(client, "/account/apps/remove", client_id="webapp")
    assert "done=app_removed" in removed.headers["Location"]
    assert (await refresh(client, app_tokens["refresh_token"], client_id="webapp")).status_code in (400, 401)
    assert "webapp" not in await text(await client.get("/account"))
    # consent is asked again
    page = await client.get(authorize_url(authorize_params("webapp")))
    assert 'name="decision"' in await text(page)


@pytest.mark.parametrize("settings_overrides", [{"issuer": "http://127.0.0.1:8000"}])
async def test_the_login_page_offers_passkeys_only_with_a_host_name(client: Client) -> None:
    page = await text(await client.get("/account/sign-in"))
    assert 'autocomplete="username"' in page and "webauthn" not in page  # an IP-address issuer


@pytest.mark.parametrize("settings_overrides", [{"issuer": "http://localhost:8000"}])
async def test_with_localhost_the_login_page_offers_passkeys(client: Client) -> None:
    response = await client.get(authorize_url(authorize_params("mine")))
    page = await text(response)
    assert 'autocomplete="username webauthn"' in page and "Sign in with a passkey" in page
    assert '<script src="/static/passkeys.js" defer></script>' in page and "<script>" not in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    action, hidden = await page_form(response)
    assert hidden["step"] == "login"


async def test_delete_the_account(client: Client, ann: dict, clock: ManualClock) -> None:
    await sign_in(client)
    clock.advance(301)
    assert "problem=confirm" in (await post(client, "/account/delete")).headers["Location"]
    gone = await post(client, "/account/delete", current_password=PASSWORD)
    assert gone.headers["Location"] == "/account/deleted"
    assert (await password_grant(client)).status_code == 400
    assert (await client.get("/account")).status_code == 303


_ = MINE


async def test_sign_one_login_out_from_the_page(client: Client, ann: dict) -> None:
    from tests.helpers import login

    elsewhere = await login(client)
    await sign_in(client)
    page = await text(await client.get("/account"))
    logins = re.findall(r'name="login" value="([^"]+)"', page)
    other = [sid for sid in logins if sid in elsewhere["refresh_token"]]
    assert len(other) == 1
    ended = await post(client, "/account/logins/end", login=other[0])
    assert "done=signed_out" in ended.headers["Location"]
    assert (await refresh(client, elsewhere["refresh_token"])).status_code == 400
    assert (await client.get("/account")).status_code == 200  # this browser is still signed in
    again = await login(client)
    assert "done=others_out" in (await post(client, "/account/logins/end-others")).headers["Location"]
    assert (await refresh(client, again["refresh_token"])).status_code == 400
    assert (await client.get("/account")).status_code == 200


LOCALHOST = "http://localhost:8000"


async def passkey_options(client: Client, purpose: str) -> dict[str, str]:
    response = await post(client, "/webauthn/options", purpose=purpose)
    assert response.status_code == 200, await text(response)
    return dict(await response.get_json())


@pytest.mark.parametrize("settings_overrides", [{"issuer": LOCALHOST}])
async def test_passkeys_through_the_pages(client: Client, ann: dict, clock: ManualClock) -> None:
    from tests.webauthn_device import SoftAuthenticator

    device = SoftAuthenticator("localhost", LOCALHOST)
    await sign_in(client)
    ceremony = await passkey_options(client, "register")
    added = await post(client, "/account/passkeys/add", challenge_id=ceremony["challenge_id"], name="Laptop",
                       credential=device.create(ceremony["options"]))
    assert "done=passkey_added" in added.headers["Location"]
    assert "Laptop" in await text(await client.get("/account"))
    await post(client, "/account/sign-out")

    # sign in with the passkey and nothing else
    ceremony = await passkey_options(client, "signin")
    signed = await post(client, "/account/sign-in", step="passkey", challenge_id=ceremony["challenge_id"],
                        credential=device.get(ceremony["options"]))
    assert signed.headers["Location"] == "/account"
    assert (await client.get("/account")).status_code == 200
    await post(client, "/account/sign-out")

    # a password alone is no longer enough: the passkey is the second step
    assert (await sign_in(client)).headers["Location"] == "/sign-in/second-step"
    ceremony = await passkey_options(client, "second_step")
    done = await post(client, "/sign-in/second-step", challenge_id=ceremony["challenge_id"],
                      credential=device.get(ceremony["options"]))
    assert done.headers["Location"] == "/account"
    # replaying that response is refused
    await post(client, "/account/sign-out")
    replay = await post(client, "/account/sign-in", step="passkey", challenge_id=ceremony["challenge_id"],
                        credential=device.get(ceremony["options"]))
    assert replay.status_code == 400


async def test_an_operator_removes_the_factors_of_a_lost_phone(client: Client, app: Any, ann: dict,
                                                               clock: ManualClock,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    from idp.cli.admin import admin_of

    await enrol(client, clock)
    assert (await password_grant(client)).status_code == 400
    admin = admin_of(app.extensions["idp"])
    with caplog.at_level("INFO", logger="idp.audit"):
        account, removed = await admin.remove_factors("ann@example.com")
    assert removed is not None and removed.totp_on and account.user.email == "ann@example.com"
    assert "mfa.disabled" in [r.fields["event"] for r in caplog.records if r.name == "idp.audit"]  # type: ignore[attr-defined]
    assert (await password_grant(client)).status_code == 200
    assert (await sign_in(client)).headers["Location"] == "/account"
    _, again = await admin.remove_factors(ann["id"])
    assert again is None


@pytest.mark.parametrize("settings_overrides", [{"issuer": LOCALHOST, "require_verified_email": True}])
async def test_a_passkey_does_not_sign_in_an_account_whose_e_mail_is_not_confirmed(
        client: Client, app: Any, ann: dict, clock: ManualClock) -> None:
    """IDP_REQUIRE_VERIFIED_EMAIL holds for passkey sign-in too, not only after a password."""
    from tests.webauthn_device import SoftAuthenticator

    users = app.extensions["idp"].db["users"]
    await users.update_one({"_id": ann["id"]}, {"$set": {"email_verified": True}})
    device = SoftAuthenticator("localhost", LOCALHOST)
    await sign_in(client)
    ceremony = await passkey_options(client, "register")
    await post(client, "/account/passkeys/add", challenge_id=ceremony["challenge_id"], name="Laptop",
               credential=device.create(ceremony["options"]))
    await post(client, "/account/sign-out")
    await users.update_one({"_id": ann["id"]}, {"$set": {"email_verified": False}})  # e.g. a new address

    ceremony = await passkey_options(client, "signin")
    refused = await post(client, "/account/sign-in", step="passkey", challenge_id=ceremony["challenge_id"],
                         credential=device.get(ceremony["options"]))
    assert refused.status_code == 403 and "Confirm your e-mail address" in await text(refused)
    assert (await client.get("/account")).status_code == 303  # still signed out


async def test_the_page_shows_whether_the_e_mail_is_confirmed_and_offers_the_message_again(
        client: Client, app: Any, ann: dict) -> None:
    await sign_in(client)
    page = await text(await client.get("/account"))
    assert "not verified" in page and "/account/verify/resend?email=ann%40example.com" in page
    await app.extensions["idp"].db["users"].update_one({"_id": ann["id"]}, {"$set": {"email_verified": True}})
    page = await text(await client.get("/account"))
    assert ">verified<" in page and "/account/verify/resend" not in page
