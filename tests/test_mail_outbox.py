"""The outbox: messages go through a real SMTP server (aiosmtpd), in the background, and
are neither lost (the server down or refusing, a restart) nor sent twice (two senders)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from quart import Quart

import idp.wiring
from idp.app import create_app
from idp.clock import to_datetime
from idp.mail.mail import build_mail
from idp.mail.sender import Sender
from idp.mail.transport import SmtpServer, SmtpTransport
from idp.settings import Settings
from idp.store.outbox import OutboxStore
from idp.wiring import Services
from tests.conftest import TEST_MONGO_URI, ManualClock
from tests.helpers import register
from tests.mail_server import MailServer, link_in, smtp, text_of  # noqa: F401 (fixture)


@pytest.fixture
def settings_overrides(smtp: MailServer) -> dict:
    return {"smtp_url": smtp.url}


def services_of(app: Quart) -> Services:
    return app.extensions["idp"]


def sender_of(app: Quart) -> Sender:
    sender = services_of(app).mail.sender
    assert sender is not None
    return sender


async def flush(app: Quart) -> None:
    """Let the app's sender handle whatever is due now."""
    sender = sender_of(app)
    sender.wake()
    await asyncio.wait_for(sender.idle(), 15)


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def outbox(app: Quart) -> list[dict]:
    return [doc async for doc in services_of(app).db["outbox"].find()]


async def test_registration_mails_a_verification_link_through_smtp(app: Quart, client, smtp: MailServer,
                                                                   settings: Settings) -> None:
    queued, sent = metric("idp_mail_queued_total"), metric("idp_mail_sent_total")
    await register(client)
    [message] = await smtp.wait_for(1)
    assert message["To"] == "ann@example.com"
    assert message["From"] == settings.mail_from
    assert message["Subject"] == "Confirm your e-mail address"
    assert message.get_content_type() == "text/plain"
    assert link_in(message, settings.issuer).startswith(f"{settings.issuer}/account/verify?token=")
    await flush(app)
    assert metric("idp_mail_queued_total") == queued + 1 and metric("idp_mail_sent_total") == sent + 1


async def test_a_sent_message_keeps_no_body_and_expires(app: Quart, client, smtp: MailServer) -> None:
    await register(client)
    await smtp.wait_for(1)
    await flush(app)
    [doc] = await outbox(app)
    assert doc["status"] == "sent" and doc["expires_at"] > doc["created_at"]
    assert not {"to", "text", "html", "job"} & set(doc), doc


async def test_smtp_down_while_queued_then_up_delivers_once(app: Quart, client, ann: dict, smtp: MailServer,
                                                            clock: ManualClock) -> None:
    await smtp.wait_for(1)  # ann's verification message
    smtp.stop()
    assert (await client.post("/users/password-reset", json={"email": "ann@example.com"})).status_code == 202
    await flush(app)
    [pending] = [doc for doc in await outbox(app) if doc["status"] == "pending"]
    assert pending["attempts"] >= 1
    smtp.start()
    for _ in range(5):  # well past the first retry, then more chances to send it twice
        clock.advance(120)
        await flush(app)
    assert [m["Subject"] for m in smtp.messages] == ["Confirm your e-mail address", "Reset your password"]


async def test_a_server_answering_4xx_gets_the_message_later_once(app: Quart, client, ann: dict, smtp: MailServer,
                                                                  clock: ManualClock) -> None:
    await smtp.wait_for(1)
    smtp.refuse_with = "451 4.3.0 try again later"
    await client.post("/users/password-reset", json={"email": "ann@example.com"})
    await flush(app)
    clock.advance(40)
    await flush(app)
    assert smtp.refused >= 2 and len(smtp.messages) == 1
    smtp.refuse_with = None
    for _ in range(4):
        clock.advance(300)
        await flush(app)
    assert [m["Subject"] for m in smtp.messages].count("Reset your password") == 1


async def test_a_5xx_refusal_fails_at_once_and_is_counted(app: Quart, client, ann: dict, smtp: MailServer,
                                                          clock: ManualClock) -> None:
    await smtp.wait_for(1)
    failed = metric("idp_mail_failed_total")
    smtp.refuse_with = "550 5.1.1 no such mailbox"
    await client.post("/users/password-reset", json={"email": "ann@example.com"})
    await flush(app)
    clock.advance(7200)
    await flush(app)
    assert smtp.refused == 1
    assert metric("idp_mail_failed_total") == failed + 1
    [doc] = [doc for doc in await outbox(app) if doc["status"] == "failed"]
    assert "text" not in doc and "to" not in doc


async def test_a_server_that_never_accepts_is_tried_for_a_day_then_given_up(
        app: Quart, client, ann: dict, smtp: MailServer, clock: ManualClock) -> None:
    await smtp.wait_for(1)
    smtp.refuse_with = "421 4.3.2 shutting down"
    await client.post("/users/password-reset", json={"email": "ann@example.com"})
    await flush(app)
    started = smtp.refused
    for _ in range(23):  # hourly for 23 hours: still trying
        clock.advance(3600)
        await flush(app)
    assert [doc["status"] for doc in await outbox(app)].count("pending") == 1
    assert smtp.refused > started + 20
    for _ in range(3):
        clock.advance(3600)
        await flush(app)
    assert [doc["status"] for doc in await outbox(app)].count("failed") == 1
    assert metric("idp_mail_oldest_queued_seconds") == 0


async def test_two_senders_on_one_database_never_send_a_message_twice(app: Quart, smtp: MailServer,
                                                                      clock: ManualClock) -> None:
    services = services_of(app)
    await sender_of(app).stop()
    addresses = [f"person{i}@example.com" for i in range(30)]
    for address in addresses:
        await services.mail.send("password_changed", address)
    store = OutboxStore(services.db)
    transport = SmtpTransport(SmtpServer.from_url(smtp.url), "no-reply@example.com")
    senders = [Sender(store, transport, clock) for _ in range(3)]
    await asyncio.gather(*(sender.deliver_due() for sender in senders))
    assert sorted(m["To"] for m in smtp.messages) == sorted(addresses)


async def test_a_restart_between_queueing_and_sending_loses_nothing(
        app: Quart, client, smtp: MailServer, settings: Settings, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    services = services_of(app)
    await sender_of(app).stop()  # the process "dies" before its sender gets to the message
    await register(client)
    assert smtp.messages == [] and len(await outbox(app)) == 1
    if not TEST_MONGO_URI:  # in memory, the restarted server must see the same in-process store
        monkeypatch.setattr(idp.wiring, "connect", lambda *args: (_Unclosed(services.mongo_client), services.db))
    restarted = create_app(settings, clock=clock)
    async with restarted.test_app():
        [message] = await smtp.wait_for(1)
        await flush(restarted)
    assert message["To"] == "ann@example.com"
    assert len(smtp.messages) == 1


class _Unclosed:
    def __init__(self, client: object) -> None:
        self._client = client

    def close(self) -> None:
        pass


def test_without_smtp_on_memory_messages_go_to_stderr_and_elsewhere_mail_is_off(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = OutboxStore.__new__(OutboxStore)
    memory = Settings(keys_dir=tmp_path)
    assert build_mail(memory, store, lambda: 0.0).mode == "stderr"
    mongo = Settings(keys_dir=tmp_path, mongo_uri="mongodb://db.example:27017")
    mail = build_mail(mongo, store, lambda: 0.0)
    assert (mail.mode, mail.enabled, mail.sender) == ("off", False, None)
    with caplog.at_level(logging.WARNING):
        mail.announce()
    assert "mail is OFF" in caplog.text
    smtps = Settings(keys_dir=tmp_path, smtp_url="smtps://me:s3cret@mail.example")
    mail = build_mail(smtps, store, lambda: 0.0)
    assert mail.mode == "smtps://mail.example:465" and "s3cret" not in mail.mode


@pytest.mark.skipif(bool(TEST_MONGO_URI), reason="stderr mail is for memory:// only")
@pytest.mark.parametrize("settings_overrides", [{}])
async def test_on_memory_without_smtp_each_message_is_printed_whole(
        app: Quart, client, settings: Settings, capfd: pytest.CaptureFixture[str]) -> None:
    await register(client)
    await flush(app)
    err = capfd.readouterr().err
    assert "To: ann@example.com" in err and "Subject: Confirm your e-mail address" in err
    assert any(line.startswith(f"{settings.issuer}/account/verify?token=") for line in err.splitlines())


def test_outbox_time_is_the_injected_clock() -> None:
    assert to_datetime(0).year == 1970


def test_mail_settings_are_read_and_checked(tmp_path: Path) -> None:
    from idp.settings import ConfigError

    settings = Settings.from_env({"IDP_ISSUER": "https://id.example.com", "IDP_REQUIRE_VERIFIED_EMAIL": "true",
                                  "IDP_RESET_TTL": "600", "IDP_SMTP_URL": "smtp://u%40x:p%3Aw@mail.example:2525"})
    assert (settings.mail_from, settings.require_verified_email, settings.reset_ttl, settings.verify_ttl) == (
        "no-reply@id.example.com", True, 600, 86400)
    server = SmtpServer.from_url(settings.smtp_url)
    assert (server.hostname, server.port, server.tls, server.username, server.password) == (
        "mail.example", 2525, False, "u@x", "p:w")
    assert SmtpServer.from_url("smtp://mail.example").port == 25
    for bad in ({"IDP_SMTP_URL": "http://mail.example"}, {"IDP_SMTP_URL": "smtp://"},
                {"IDP_REQUIRE_VERIFIED_EMAIL": "maybe"}, {"IDP_MAIL_FROM": "nobody"}, {"IDP_RESET_TTL": "0"}):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)


def test_an_operator_replaces_a_message_and_may_add_html(tmp_path: Path) -> None:
    from idp.mail.templates import MailTemplates
    from idp.mail.transport import build

    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "password_reset.txt").write_text(
        "Subject: Passwort zurücksetzen\n\nHallo {{ email }},\n\n{{ link }}\n")
    (tmp_path / "mail" / "password_reset.html").write_text('<p><a href="{{ link }}">{{ email }}</a></p>')
    templates = MailTemplates("https://id.example.com", tmp_path)
    message = templates.render("password_reset", "a<b>@example.com", link="https://id.example.com/x?a=1&b=2",
                               minutes=30)
    assert message.subject == "Passwort zurücksetzen"
    assert message.text == "Hallo a<b>@example.com,\n\nhttps://id.example.com/x?a=1&b=2\n"
    assert message.html == '<p><a href="https://id.example.com/x?a=1&amp;b=2">a&lt;b&gt;@example.com</a></p>'
    mime = build(message, "no-reply@id.example.com")
    assert mime.get_content_type() == "multipart/alternative"
    built_in = MailTemplates("https://id.example.com", tmp_path).render("verify_email", "a@example.com",
                                                                       link="L", hours=24)
    assert built_in.subject == "Confirm your e-mail address" and built_in.html is None
