"""Administration: the service (idp.admin) on the test database, and `idp users` /
`idp clients` (idp.admin_cli) parsing and printing, pointed at the same database."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from datetime import UTC, datetime
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.cli import admin as admin_cli, main as cli
from idp.accounts.admin import Admin, AdminRefusal
from idp.logins.logins import CredentialsChanged
from idp.logins.refresh import new_refresh_token
from idp.settings import Settings
from idp.wiring import Services, build_services
from idp.store.logins import LoginStore
from idp.store.users import UserStore
from tests.conftest import TEST_MONGO_URI, ManualClock
from tests.helpers import PASSWORD, login, me_status, password_grant, refresh, register


@pytest.fixture
def admin(app: Quart, clock: ManualClock) -> Admin:
    return admin_cli.admin_of(app.extensions["idp"])


# -- the service ----------------------------------------------------------------------

async def test_add_makes_an_account_that_logs_in(admin: Admin, client: Client) -> None:
    account = await admin.add(" Bo ", "Bo@Example.com", PASSWORD)
    assert (account.user.name, account.user.email, account.locked) == ("Bo", "Bo@example.com", False)
    await login(client, "bo@example.com")


@pytest.mark.parametrize(("name", "email", "password", "message"), [
    ("Bo", "bo@example.com", "short", "password must be at least 8 characters"),
    ("Bo", "bo@example.com", "password1", "password is one of the most commonly used"),
    ("Bo", "not-an-address", PASSWORD, "email is not a valid e-mail address"),
    ("", "bo@example.com", PASSWORD, "name must be 1 to 200 characters"),
])
async def test_add_applies_the_rules_of_registration(admin: Admin, name: str, email: str, password: str,
                                                     message: str) -> None:
    with pytest.raises(AdminRefusal, match=message):
        await admin.add(name, email, password)
    assert (await admin.list()).accounts == []


async def test_add_refuses_a_taken_email_in_any_case(admin: Admin, ann: dict[str, Any]) -> None:
    with pytest.raises(AdminRefusal, match="an account with the e-mail ANN@example.com exists"):
        await admin.add("Other", "ANN@example.com", PASSWORD)


async def test_list_pages_in_email_order_and_filters_by_prefix(admin: Admin, client: Client) -> None:
    for email in ("dee@example.com", "Ann@example.com", "cat@example.com", "bob@example.com", "anna@example.org"):
        await register(client, email)
    first = await admin.list(limit=2)
    assert [a.user.email for a in first.accounts] == ["Ann@example.com", "anna@example.org"]
    assert first.next_after == "anna@example.org"
    second = await admin.list(after=first.next_after, limit=2)
    assert [a.user.email for a in second.accounts] == ["bob@example.com", "cat@example.com"]
    last = await admin.list(after=second.next_after, limit=2)
    assert [a.user.email for a in last.accounts] == ["dee@example.com"] and last.next_after is None

    prefixed = await admin.list(email_prefix="ANN", limit=1)
    assert [a.user.email for a in prefixed.accounts] == ["Ann@example.com"]
    rest = await admin.list(email_prefix="ANN", after=prefixed.next_after, limit=1)
    assert [a.user.email for a in rest.accounts] == ["anna@example.org"] and rest.next_after is None
    with pytest.raises(AdminRefusal, match="page size"):
        await admin.list(limit=0)


async def test_show_by_id_or_email_with_the_live_logins(admin: Admin, client: Client,
                                                        ann: dict[str, Any]) -> None:
    await login(client)
    await login(client)
    by_email = await admin.show("ANN@example.com")
    assert by_email == await admin.show(ann["id"])
    assert by_email.view() == {**ann, "locked": False, "sessions": 2}
    for unknown in ("nobody@example.com", "no-such-id"):
        with pytest.raises(AdminRefusal, match=f"no user '{unknown}'"):
            await admin.show(unknown)


async def test_lock_ends_the_logins_and_refuses_login_and_refresh_until_unlock(
        admin: Admin, client: Client, ann: dict[str, Any], session: dict[str, Any]) -> None:
    locked, ended = await admin.lock("ann@example.com")
    assert locked.locked and ended == 1
    assert (await refresh(client, session["refresh_token"])).status_code == 400
    assert await me_status(client, session["access_token"]) == 401
    refused = await password_grant(client)
    wrong = await password_grant(client, password="a wrong password")
    assert (refused.status_code, await refused.get_json()) == (wrong.status_code, await wrong.get_json())
    assert (await admin.show(ann["id"])).locked

    assert not (await admin.unlock(ann["id"])).locked
    await login(client)


async def test_a_login_in_flight_when_the_lock_lands_ends_itself(app: Quart, admin: Admin,
                                                                 ann: dict[str, Any]) -> None:
    services = app.extensions["idp"]
    before = await UserStore(services.db).credentials("ann@example.com")
    assert before is not None
    await admin.lock(ann["id"])
    sid = uuid.uuid4().hex
    in_flight = services.logins.new(sid, ann["id"], "web", "account", new_refresh_token(sid).split(".")[1])
    with pytest.raises(CredentialsChanged):  # its password check passed before the lock
        await services.logins.start(in_flight, before.stamp)
    assert await LoginStore(services.db).get(sid, datetime.now(UTC)) is None


async def test_logout_ends_every_login_and_leaves_the_account_usable(
        admin: Admin, client: Client, ann: dict[str, Any], session: dict[str, Any]) -> None:
    other = await login(client)
    account, ended = await admin.logout("ann@example.com")
    assert ended == 2 and not account.locked
    for tokens in (session, other):
        assert (await refresh(client, tokens["refresh_token"])).status_code == 400
    await login(client)


async def test_delete_removes_the_account_and_its_logins(admin: Admin, client: Client,
                                                        ann: dict[str, Any], session: dict[str, Any]) -> None:
    await admin.delete(ann["id"])
    assert await me_status(client, session["access_token"]) == 401
    assert (await refresh(client, session["refresh_token"])).status_code == 400
    assert (await password_grant(client)).status_code == 400
    with pytest.raises(AdminRefusal, match="no user"):
        await admin.show(ann["id"])
    await register(client)  # the e-mail is free again


async def test_clients_shows_grants_and_whether_the_file_still_has_them(app: Quart, admin: Admin,
                                                                         clock: ManualClock) -> None:
    clients = {c["client_id"]: c for c in await admin.clients()}
    assert clients["backend"] == {
        "client_id": "backend", "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["password", "refresh_token", "client_credentials"], "scope": "account read write",
        "in_file": True, "removed_at": None,
    }
    services = app.extensions["idp"]
    await services.clients.sync([e.document() for e in services.client_entries if e.client_id != "poster"],
                                datetime.now(UTC))
    poster = {c["client_id"]: c for c in await admin.clients()}["poster"]
    assert poster["in_file"] is False and poster["removed_at"]
    assert all("secret" not in name for c in await admin.clients() for name in c)


# -- the command line -----------------------------------------------------------------

@pytest.fixture
def idp(app: Quart, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run `idp ...` against the test app's database; returns (exit status, stdout, stderr).

    main() runs its own event loop, so it runs in a thread of its own; the test's loop
    keeps the database.
    """
    services = app.extensions["idp"]
    if TEST_MONGO_URI:  # a Motor client belongs to one loop: main() needs one of its own
        def open_services(settings: Settings) -> Services:
            return build_services(services.settings, services.clock)
    else:  # an in-memory database is only reachable through its client object
        def open_services(settings: Settings) -> Services:
            # the app's pools, client and mail sender stay open for the rest of the test
            keep_open = SimpleNamespace(close=lambda: None, shutdown=lambda: None)
            queue_only = SimpleNamespace(sender=None)
            return replace(services, mongo_client=keep_open, oauth=keep_open, hashing=keep_open, mail=queue_only)
    monkeypatch.setattr(admin_cli, "open_services", open_services)
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)  # keep pytest's handlers

    async def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        status = await asyncio.to_thread(cli.main, list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


async def test_cli_users_add_reads_the_password_from_stdin(idp: Any, client: Client) -> None:
    status, out, _ = await idp("users", "add", "--email", "bo@example.com", "--name", "Bo", "--json",
                               stdin=PASSWORD + "\n")
    assert status == 0
    assert json.loads(out)["email"] == "bo@example.com"
    await login(client, "bo@example.com")
    status, _, err = await idp("users", "add", "--email", "cy@example.com", "--name", "Cy", stdin="short\n")
    assert (status, err) == (1, "idp: password must be at least 8 characters\n")


async def test_cli_lists_shows_locks_logs_out_and_deletes(idp: Any, client: Client,
                                                         ann: dict[str, Any], session: dict[str, Any]) -> None:
    await register(client, "bob@example.com")
    status, out, err = await idp("users", "list", "--limit", "1")
    assert status == 0 and out.split("\n")[1].startswith("ann@example.com  " + ann["id"])
    assert err == "more: idp users list --after ann@example.com\n"
    status, out, _ = await idp("users", "list", "--after", "ann@example.com", "--json")
    assert [u["email"] for u in json.loads(out)["users"]] == ["bob@example.com"]
    assert json.loads(out)["next_after"] is None

    status, out, _ = await idp("users", "show", "ann@example.com")
    assert "locked: False" in out and "sessions: 1" in out
    status, out, _ = await idp("users", "lock", ann["id"])
    assert out == f"locked ann@example.com ({ann['id']}): ended 1 login(s)\n"
    status, out, _ = await idp("users", "unlock", ann["id"], "--json")
    assert json.loads(out)["locked"] is False
    await login(client)
    status, out, _ = await idp("users", "logout", "ann@example.com", "--json")
    assert json.loads(out)["ended_sessions"] == 1

    status, _, err = await idp("users", "delete", ann["id"])
    assert (status, err) == (1, f"idp: deleting {ann['id']} cannot be undone: run again with --yes\n")
    status, out, _ = await idp("users", "delete", ann["id"], "--yes")
    assert status == 0 and out.startswith("deleted ann@example.com")


async def test_cli_refuses_an_unknown_user_in_one_line(idp: Any) -> None:
    status, out, err = await idp("users", "show", "nobody@example.com")
    assert (status, out, err) == (1, "", "idp: no user 'nobody@example.com'\n")


async def test_cli_clients_list(idp: Any) -> None:
    status, out, _ = await idp("clients", "list")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["client_id", "auth_method", "grant_types", "scope", "in_file"]
    assert lines[-1].split() == ["web", "none", "password,refresh_token", "account", "profile", "yes"]
    status, out, _ = await idp("clients", "list", "--json")
    assert {c["client_id"] for c in json.loads(out)["clients"]} == {"web", "backend", "poster", "service"}


def test_cli_refuses_a_memory_store(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IDP_MONGO_URI", "memory://")
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    assert cli.main(["users", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("idp: IDP_MONGO_URI is memory://: that store lives inside the server's process")
    assert err.count("\n") == 1
