"""The operator's commands for a person locked out: set-password, reset-link, verify,
and add --verified."""

from __future__ import annotations

import json
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.helpers import PASSWORD, bearer, login, me_status, password_grant
from tests.test_admin import idp  # noqa: F401 (fixture)

NEW_PASSWORD = "set by the administrator"


async def test_set_password_reads_stdin_and_ends_every_login(idp: Any, client: Client, ann: dict[str, Any],
                                                             session: dict[str, Any]) -> None:
    status, out, _ = await idp("users", "set-password", "ann@example.com", "--json", stdin=NEW_PASSWORD + "\n")
    assert status == 0 and json.loads(out)["ended_sessions"] == 1
    assert await me_status(client, session["access_token"]) == 401
    assert (await password_grant(client)).status_code == 400
    await login(client, password=NEW_PASSWORD)
    status, _, err = await idp("users", "set-password", "ann@example.com", stdin="password\n")
    assert status == 1 and "most commonly used" in err


async def test_reset_link_prints_a_one_time_link_and_kills_the_previous(
        app: Quart, idp: Any, client: Client, ann: dict[str, Any]) -> None:
    issuer = app.extensions["idp"].settings.issuer
    status, out, _ = await idp("users", "reset-link", ann["id"])
    first = out.splitlines()[0]
    assert status == 0 and first.startswith(f"{issuer}/account/reset?token=")
    status, out, _ = await idp("users", "reset-link", "ann@example.com", "--json")
    second = json.loads(out)["reset_link"]
    token = lambda link: link.partition("token=")[2]  # noqa: E731
    old = await client.post("/users/password-reset/complete", json={"token": token(first), "password": NEW_PASSWORD})
    assert old.status_code == 400
    new = await client.post("/users/password-reset/complete", json={"token": token(second), "password": NEW_PASSWORD})
    assert new.status_code == 204
    await login(client, password=NEW_PASSWORD)


async def test_verify_and_add_verified(idp: Any, client: Client, ann: dict[str, Any]) -> None:
    status, out, _ = await idp("users", "verify", "ann@example.com", "--json")
    assert status == 0 and json.loads(out)["email_verified"] is True
    session = await login(client)
    assert (await (await client.get("/users/me", headers=bearer(session["access_token"]))).get_json())[
        "email_verified"] is True
    status, out, _ = await idp("users", "add", "--email", "bo@example.com", "--name", "Bo", "--verified", "--json",
                               stdin=PASSWORD + "\n")
    assert status == 0 and json.loads(out)["email_verified"] is True
    status, out, _ = await idp("users", "add", "--email", "cy@example.com", "--name", "Cy", "--json",
                               stdin=PASSWORD + "\n")
    assert status == 0 and json.loads(out)["email_verified"] is False
    assert (await client.get("/users/me")).status_code == 401
