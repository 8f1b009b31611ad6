"""Password reset and e-mail verification, end to end through a real SMTP server."""

from __future__ import annotations

import asyncio
import logging
import re
import statistics
import time
from email.message import EmailMessage

import pytest
from quart import Quart

from idp.settings import Settings
from tests.conftest import ManualClock
from tests.helpers import PASSWORD, bearer, login, me_status, password_grant, post_form, register
from tests.mail_server import MailServer, link_in, smtp, text_of, token_of  # noqa: F401 (fixture)

NEW_PASSWORD = "a brand new passphrase"
ENUMERATION_TRIES = 15  # as tests/test_enumeration.py


@pytest.fixture
def settings_overrides(smtp: MailServer, request: pytest.FixtureRequest) -> dict:
    return {"smtp_url": smtp.url, **getattr(request, "param", {})}


async def flush(app: Quart) -> None:
    sender = app.extensions["idp"].mail.sender
    sender.wake()
    await asyncio.wait_for(sender.idle(), 15)


async def mails(app: Quart, smtp: MailServer, subject: str) -> list[EmailMessage]:
    await flush(app)
    return [m for m in smtp.messages if m["Subject"] == subject]


async def reset_link(app: Quart, client, smtp: MailServer, settings: Settings,
                     email: str = "ann@example.com") -> str:
    before = len(await mails(app, smtp, "Reset your password"))
    response = await client.post("/users/password-reset", json={"email": email})
    assert response.status_code == 202 and await response.get_json() == {}
    found = await mails(app, smtp, "Reset your password")
    assert len(found) == before + 1
    return link_in(found[-1], settings.issuer)


async def complete(client, token: str, password: str = NEW_PASSWORD):
    return await client.post("/users/password-reset/complete", json={"token": token, "password": password})


async def test_a_reset_sets_the_password_ends_every_login_and_sends_a_notice(
        app: Quart, client, ann: dict, smtp: MailServer, settings: Settings) -> None:
    session = await login(client)
    link = await reset_link(app, client, smtp, settings)
    assert link.startswith(f"{settings.issuer}/account/reset?token=")
    response = await complete(client, token_of(link))
    assert response.status_code == 204
    assert await me_status(client, session["access_token"]) == 401
    assert (await password_grant(client)).status_code == 400
    fresh = await login(client, password=NEW_PASSWORD)
    me = await (await client.get("/users/me", headers=bearer(fresh["access_token"]))).get_json()
    assert me["email_verified"] is True
    [notice] = await mails(app, smtp, "Your password was changed")
    assert notice["To"] == "ann@example.com" and "http" not in text_of(notice)


async def test_a_reset_link_works_once(app: Quart, client, ann: dict, smtp: MailServer, settings: Settings) -> None:
    token = token_of(await reset_link(app, client, smtp, settings))
    assert (await complete(client, token)).status_code == 204
    response = await complete(client, token, "yet another passphrase")
    assert response.status_code == 400 and (await response.get_json())["error"] == "invalid_token"


async def test_of_ten_concurrent_completions_exactly_one_succeeds(
        app: Quart, client, ann: dict, smtp: MailServer, settings: Settings) -> None:
    token = token_of(await reset_link(app, client, smtp, settings))
    answers = await asyncio.gather(*(complete(client, token, f"concurrent passphrase {i}") for i in range(10)))
    assert sorted(a.status_code for a in answers) == [204] + [400] * 9


async def test_a_reset_link_expires(app: Quart, client, ann: dict, smtp: MailServer, settings: Settings,
                                    clock: ManualClock) -> None:
    token = token_of(await reset_link(app, client, smtp, settings))
    clock.advance(settings.reset_ttl + 1)
    assert (await complete(client, token)).status_code == 400
    assert (await password_grant(client)).status_code == 200


async def test_only_the_newest_link_works(app: Quart, client, ann: dict, smtp: MailServer, settings: Settings,
                                          clock: ManualClock) -> None:
    older = token_of(await reset_link(app, client, smtp, settings))
    clock.advance(61)
    newer = token_of(await reset_link(app, client, smtp, settings))
    assert (await complete(client, older)).status_code == 400
    assert (await complete(client, newer)).status_code == 204


async def test_a_password_change_kills_an_outstanding_link(app: Quart, client, ann: dict, smtp: MailServer,
                                                           settings: Settings) -> None:
    token = token_of(await reset_link(app, client, smtp, settings))
    session = await login(client)
    changed = await client.patch("/users/me", headers=bearer(session["access_token"]),
                                 json={"password": "changed it myself", "current_password": PASSWORD})
    assert changed.status_code == 200
    assert (await complete(client, token)).status_code == 400


async def test_bad_tokens_and_weak_passwords_change_nothing(app: Quart, client, ann: dict, smtp: MailServer,
                                                            settings: Settings) -> None:
    token = token_of(await reset_link(app, client, smtp, settings))
    for bad in ["", "x", token + "x", token[:-1] + ("A" if token[-1] != "A" else "B"), {"$ne": None}]:
        response = await client.post("/users/password-reset/complete", json={"token": bad, "password": NEW_PASSWORD})
        assert response.status_code == 400, bad
    weak = await complete(client, token, "password")
    assert weak.status_code == 400 and "password" in (await weak.get_json())["fields"]
    assert (await complete(client, token)).status_code == 204  # the weak attempt did not use the link


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
        app: Quart, client, ann: dict, smtp: MailServer) -> None:
    await flush(app)
    sent = len(smtp.messages)
    known = await client.post("/users/password-reset", json={"email": "ann@example.com"})
    unknown = await client.post("/users/password-reset", json={"email": "nobody@example.com"})
    assert (known.status_code, await known.get_json()) == (unknown.status_code, await unknown.get_json()) == (202, {})
    drop = {"x-request-id", "date", "content-length"}
    assert {k: v for k, v in known.headers.items() if k.lower() not in drop} == \
           {k: v for k, v in unknown.headers.items() if k.lower() not in drop}
    await flush(app)
    assert [m["To"] for m in smtp.messages[sent:]] == ["ann@example.com"]


async def test_one_message_per_address_a_minute_and_five_a_window(
        app: Quart, client, ann: dict, smtp: MailServer, clock: ManualClock) -> None:
    for _ in range(3):
        assert (await client.post("/users/password-reset", json={"email": "ann@example.com"})).status_code == 202
    assert len(await mails(app, smtp, "Reset your password")) == 1
    for _ in range(6):
        clock.advance(61)
        assert (await client.post("/users/password-reset", json={"email": "ann@example.com"})).status_code == 202
    assert len(await mails(app, smtp, "Reset your password")) == 5


@pytest.mark.parametrize("settings_overrides", [{"register_max_per_ip": 3}], indirect=True)
async def test_requests_per_ip_are_limited(app: Quart, client) -> None:
    answers = [await client.post("/users/password-reset", json={"email": f"p{i}@example.com"}) for i in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert (await answers[-1].get_json())["error"] == "slow_down" and "Retry-After" in answers[-1].headers


@pytest.mark.parametrize("body", [{}, {"email": 1}, {"email": "not an address"}, {"email": "a@example.com", "x": 1}])
async def test_bad_reset_requests_are_400(client, body: dict) -> None:
    response = await client.post("/users/password-reset", json=body)
    assert response.status_code == 400 and (await response.get_json())["error"] == "invalid_request"


async def test_audit_events_name_the_user_and_never_the_token(
        app: Quart, client, ann: dict, smtp: MailServer, settings: Settings,
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        link = await reset_link(app, client, smtp, settings)
        await complete(client, token_of(link))
    events = [getattr(r, "fields", {}) for r in caplog.records]
    names = [e.get("event") for e in events]
    assert "password.reset.requested" in names and "password.reset" in names and "email.verified" in names
    secret = token_of(link).partition(".")[2]
    assert secret not in caplog.text and NEW_PASSWORD not in caplog.text


async def test_a_reset_for_a_known_and_an_unknown_address_takes_the_same_time(app: Quart, client, smtp: MailServer) -> None:
    """The account is looked up off the request's path, so both do the same work."""
    sender = app.extensions["idp"].mail.sender
    tries = 3 * ENUMERATION_TRIES  # each answer takes milliseconds: more of them to see past the noise
    for i in range(tries):
        await register(client, email=f"known{i}@example.com")
    known: list[float] = []
    unknown: list[float] = []
    for i in range(tries):
        pair = [(f"known{i}@example.com", known), (f"nobody{i}@example.com", unknown)]
        for address, times in pair if i % 2 else reversed(pair):  # alternate which goes first
            sender.wake()
            await asyncio.wait_for(sender.idle(), 15)  # the previous request's mail is not in the timing
            started = time.perf_counter()
            response = await client.post("/users/password-reset", json={"email": address})
            times.append(time.perf_counter() - started)
            assert (response.status_code, await response.get_json()) == (202, {})
    # The lower quartile: these answers take milliseconds, where a busy machine's spikes
    # move a median by more than the tolerance; the quartile is still the cost of the work.
    a, b = statistics.quantiles(unknown, n=4)[0], statistics.quantiles(known, n=4)[0]
    assert abs(a - b) / max(a, b) < 0.25, (a, b)


# -- verification -------------------------------------------------------------------------

async def verify_link(app: Quart, smtp: MailServer, settings: Settings, to: str = "ann@example.com") -> str:
    found = [m for m in await mails(app, smtp, "Confirm your e-mail address") if m["To"] == to]
    return link_in(found[-1], settings.issuer)


async def test_registration_sends_a_link_that_verifies_the_address_once(
        app: Quart, client, ann: dict, smtp: MailServer, settings: Settings) -> None:
    assert ann["email_verified"] is False
    link = await verify_link(app, smtp, settings)
    assert link.startswith(f"{settings.issuer}/account/verify?token=")
    complete_verification = {"token": token_of(link)}
    assert (await client.post("/users/email-verification/complete", json=complete_verification)).status_code == 204
    again = await client.post("/users/email-verification/complete", json=complete_verification)
    assert again.status_code == 400 and (await again.get_json())["error"] == "invalid_token"
    session = await login(client)
    me = await (await client.get("/users/me", headers=bearer(session["access_token"]))).get_json()
    assert me["email_verified"] is True


async def test_a_verification_link_expires(app: Quart, client, ann: dict, smtp: MailServer, settings: Settings,
                                           clock: ManualClock) -> None:
    link = await verify_link(app, smtp, settings)
    clock.advance(settings.verify_ttl + 1)
    response = await client.post("/users/email-verification/complete", json={"token": token_of(link)})
    assert response.status_code == 400


async def test_an_email_change_unverifies_mails_both_addresses_and_old_links_die(
        app: Quart, client, ann: dict, smtp: MailServer, settings: Settings) -> None:
    old_link = await verify_link(app, smtp, settings)
    session = await login(client)
    changed = await client.patch("/users/me", headers=bearer(session["access_token"]),
                                 json={"email": "ann@example.org", "current_password": PASSWORD})
    assert (await changed.get_json())["email_verified"] is False
    [notice] = await mails(app, smtp, "Your e-mail address was changed")
    assert notice["To"] == "ann@example.com" and "http" not in text_of(notice)
    old = await client.post("/users/email-verification/complete", json={"token": token_of(old_link)})
    assert old.status_code == 400
    new_link = await verify_link(app, smtp, settings, "ann@example.org")
    assert (await client.post("/users/email-verification/complete",
                              json={"token": token_of(new_link)})).status_code == 204


async def test_asking_again_is_202_then_429_within_a_minute(app: Quart, client, ann: dict, smtp: MailServer,
                                                             clock: ManualClock) -> None:
    session = await login(client)
    headers = bearer(session["access_token"])
    assert (await client.post("/users/me/email-verification", headers=headers)).status_code == 202
    refused = await client.post("/users/me/email-verification", headers=headers)
    assert refused.status_code == 429 and (await refused.get_json())["error"] == "slow_down"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    clock.advance(61)
    assert (await client.post("/users/me/email-verification", headers=headers)).status_code == 202
    assert (await client.post("/users/me/email-verification")).status_code == 401
    assert len(await mails(app, smtp, "Confirm your e-mail address")) == 3


async def test_email_verified_is_the_same_in_userinfo(app: Quart, client, ann: dict) -> None:
    from idp.oauth.oidc import userinfo_claims

    user = await app.extensions["idp"].accounts.get(ann["id"])
    assert userinfo_claims(user, "openid email")["email_verified"] is False


@pytest.mark.parametrize("settings_overrides", [{"require_verified_email": True}], indirect=True)
async def test_an_unverified_account_cannot_use_the_password_grant_after_the_right_password_only(
        app: Quart, client, ann: dict, smtp: MailServer, settings: Settings) -> None:
    wrong = await password_grant(client, password="not the password")
    assert (await wrong.get_json())["error_description"] == "The e-mail address or password is wrong."
    refused = await password_grant(client)
    body = await refused.get_json()
    assert refused.status_code == 400 and body["error"] == "invalid_grant"
    assert "confirm your e-mail address first" in body["error_description"].lower()
    link = await verify_link(app, smtp, settings)
    await client.post("/users/email-verification/complete", json={"token": token_of(link)})
    assert (await password_grant(client)).status_code == 200


# -- pages ----------------------------------------------------------------------------------

def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]  # type: ignore[index]


async def test_the_reset_page_shows_a_form_on_get_and_acts_only_on_post(
        app: Quart, client, ann: dict, smtp: MailServer, settings: Settings) -> None:
    link = await reset_link(app, client, smtp, settings)
    path = link.removeprefix(settings.issuer)
    page = await client.get(path)
    html = await page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="new_password"' in html
    assert page.headers["Referrer-Policy"] == "no-referrer" and "form-action 'self'" in page.headers[
        "Content-Security-Policy"]
    await client.get(path)
    assert (await password_grant(client)).status_code == 200  # GETs changed nothing
    no_csrf = await post_form(client, "/account/reset", {"token": token_of(link), "new_password": NEW_PASSWORD})
    assert no_csrf.status_code == 400
    done = await post_form(client, "/account/reset", {"token": token_of(link), "new_password": NEW_PASSWORD,
                                                     "csrf_token": csrf_of(html)})
    assert done.status_code == 303 and done.headers["Location"] == "/account/reset/done"
    assert (await login(client, password=NEW_PASSWORD))["access_token"]
    dead = await client.get(path)
    assert dead.status_code == 400 and "/account/forgot" in await dead.get_data(as_text=True)


async def test_the_forgot_page_sends_the_link(app: Quart, client, ann: dict, smtp: MailServer,
                                              settings: Settings) -> None:
    page = await client.get("/account/forgot")
    html = await page.get_data(as_text=True)
    assert page.status_code == 200 and 'for="email"' in html
    sent = await post_form(client, "/account/forgot", {"email": "ann@example.com", "csrf_token": csrf_of(html)})
    assert sent.status_code == 303 and sent.headers["Location"] == "/account/forgot/sent"
    assert (await client.get("/account/forgot/sent")).status_code == 200
    assert len(await mails(app, smtp, "Reset your password")) == 1


async def test_the_verify_page_confirms_on_post_only(app: Quart, client, ann: dict, smtp: MailServer,
                                                     settings: Settings) -> None:
    link = await verify_link(app, smtp, settings)
    page = await client.get(link.removeprefix(settings.issuer))
    html = await page.get_data(as_text=True)
    user = await app.extensions["idp"].accounts.get(ann["id"])
    assert page.status_code == 200 and not user.email_verified
    done = await post_form(client, "/account/verify", {"token": token_of(link), "csrf_token": csrf_of(html)})
    assert done.status_code == 303 and done.headers["Location"] == "/account/verify/done"
    assert (await app.extensions["idp"].accounts.get(ann["id"])).email_verified
