"""Audit events: one JSON line per security event, with who and where, never a secret."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.ops.audit import EVENTS, audit
from idp.oauth.clients_file import sync_clients
from idp.ops.logs import JsonFormatter
from idp.store.clients import ClientStore
from tests.conftest import SECRETS
from tests.helpers import PASSWORD, basic, bearer, login, password_grant, post_form, refresh, register

NEW_PASSWORD = "a completely new passphrase"
WRONG = "a wrong password entirely"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"login_max_failures": 3}


@pytest.fixture(autouse=True)
def audit_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="idp.audit")


def _events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The audit lines written so far, as the JSON formatter prints them."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "idp.audit"]


def _only(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [line for line in events if line["event"] == name]
    assert len(found) == 1, (name, list(events))
    return found[0]


async def test_every_event_of_an_account_s_life_is_one_line_with_ids_and_no_secret(
        app: Quart, client: Client, caplog: pytest.LogCaptureFixture) -> None:
    rid = {"X-Request-ID": "audit-trail-1"}
    ann = await register(client)
    await password_grant(client, password=WRONG)
    await password_grant(client, email="nobody@example.com", password=WRONG)
    first = await login(client)
    second = await (await refresh(client, first["refresh_token"])).get_json()
    reused = await post_form(client, "/oauth/token", {"grant_type": "refresh_token", "client_id": "web",
                                                      "refresh_token": first["refresh_token"]}, rid)
    assert reused.status_code == 400
    third = await login(client, client_id="backend")
    changed = await client.patch("/users/me", headers=bearer(third["access_token"]), json={
        "password": NEW_PASSWORD, "email": "ann.new@example.com", "current_password": PASSWORD})
    assert changed.status_code == 200
    assert (await post_form(client, "/oauth/revoke", {"token": third["refresh_token"]},
                            basic("backend"))).status_code == 200
    fourth = await login(client, email="ann.new@example.com", password=NEW_PASSWORD)
    assert (await client.delete("/users/me", json={"current_password": NEW_PASSWORD},
                                headers=bearer(fourth["access_token"]))).status_code == 204

    events = _events(caplog)
    user_id = ann["id"]
    created = _only(events, "account.created")
    assert created["user_id"] == user_id and created["client_ip"]
    failed = [line for line in events if line["event"] == "login.failed"]
    assert [(line.get("user_id"), line["reason"]) for line in failed] == [
        (user_id, "wrong_password"), (None, "unknown_account")]
    assert all(line["client_id"] == "web" for line in failed)
    succeeded = [line for line in events if line["event"] == "login.succeeded"]
    assert [(line["user_id"], line["client_id"]) for line in succeeded] == [
        (user_id, "web"), (user_id, "backend"), (user_id, "web")]
    reuse = _only(events, "refresh.reused")
    assert reuse["user_id"] == user_id and reuse["client_id"] == "web"
    assert reuse["sid"] == succeeded[0]["sid"]  # the login it ended
    assert reuse["request_id"] == reused.headers["X-Request-ID"] and reuse["level"] == "warning"
    for name in ("password.changed", "email.changed"):
        line = _only(events, name)
        assert line["user_id"] == user_id and line["sid"] == succeeded[1]["sid"]  # the login that made it
    logout = _only(events, "logout")
    assert (logout["user_id"], logout["client_id"], logout["sid"], logout["ended"]) == (
        user_id, "backend", succeeded[1]["sid"], "login")
    assert _only(events, "account.deleted")["user_id"] == user_id
    for line in events:
        assert line["logger"] == "idp.audit" and line["request_id"] and line["client_ip"]

    secrets = [PASSWORD, NEW_PASSWORD, WRONG, "nobody@example.com", "ann@example.com", "ann.new@example.com",
               "$argon2", *[s for s in SECRETS.values() if s],
               *[t[k] for t in (first, second, third, fourth) for k in ("access_token", "refresh_token")]]
    text = "\n".join(json.dumps(line) for line in events)
    for secret in secrets:
        assert secret not in text


async def test_throttled_logins_are_an_event_each(client: Client, ann: dict[str, Any],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(4):
        await password_grant(client, password=WRONG)
    response = await password_grant(client)
    assert response.status_code == 429
    events = _events(caplog)
    throttled = [line for line in events if line["event"] == "login.throttled"]
    assert len(throttled) == 2 and all(line["client_id"] == "web" and line["client_ip"] for line in throttled)
    assert all(PASSWORD not in json.dumps(line) and "ann@example.com" not in json.dumps(line) for line in throttled)


async def test_an_access_token_revoked_alone_is_a_logout_of_that_token(
        client: Client, session: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    assert (await post_form(client, "/oauth/revoke", {"token": session["access_token"],
                                                      "client_id": "web"})).status_code == 200
    events = _events(caplog)
    line = _only(events, "logout")
    assert line["ended"] == "access_token" and line["user_id"] and line["sid"]
    assert session["access_token"] not in json.dumps(line)


async def test_a_client_removed_from_the_file_is_an_audit_event(app: Quart, caplog: pytest.LogCaptureFixture) -> None:
    services = app.extensions["idp"]
    await sync_clients(ClientStore(services.db), services.consents, services.client_entries[1:], datetime.now(timezone.utc))
    events = _events(caplog)
    line = _only(events, "client.removed")
    assert line["client_id"] == "web" and line["level"] == "warning"


def test_events_outside_a_request_carry_what_they_are_given(caplog: pytest.LogCaptureFixture) -> None:
    """`idp users lock` and `idp keys rotate` log from the shell: no request, no client IP."""
    audit("account.locked", user_id="u-1")
    audit("key.rotated", kid="k-2")
    events = _events(caplog)
    assert [(line["event"], line.get("user_id"), line.get("kid"), "client_ip" in line) for line in events] == [
        ("account.locked", "u-1", None, False), ("key.rotated", None, "k-2", False)]


def test_an_unknown_event_name_is_a_bug_not_a_line() -> None:
    with pytest.raises(ValueError):
        audit("login.maybe")
    assert "login.succeeded" in EVENTS


async def test_the_administrator_s_lock_and_logout_are_events(app: Quart, client: Client, ann: dict[str, Any],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    from idp.cli.admin import admin_of

    admin = admin_of(app.extensions["idp"])
    await login(client)
    await admin.logout(ann["email"])
    await admin.lock(ann["id"])
    events = _events(caplog)
    assert _only(events, "logout")["user_id"] == ann["id"]
    locked = _only(events, "account.locked")
    assert locked["user_id"] == ann["id"] and locked["level"] == "warning"


def test_a_key_rotation_is_an_event(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                    caplog: pytest.LogCaptureFixture) -> None:
    from idp.cli import main as cli

    monkeypatch.setenv("IDP_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setattr(cli, "configure_logging", lambda *args: None)  # keep pytest's capture
    assert cli.main(["keys", "rotate", "--create"]) == 0
    assert cli.main(["keys", "rotate"]) == 0
    line = _only(_events(caplog), "key.rotated")
    assert line["kid"] and str(tmp_path / "keys") in line["keys_dir"]
