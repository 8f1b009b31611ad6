"""The self-service account endpoints, row by row of the contract."""

from __future__ import annotations

import asyncio
import re

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.conftest import ManualClock
from tests.helpers import (
    PASSWORD, bearer, introspect, login, me_status, password_grant, refresh, refresh_storm, register,
)

RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


async def test_register_returns_the_user(client: Client) -> None:
    response = await client.post("/users", json={"name": "  Ann Lee ", "email": "Ann@Example.COM",
                                                 "password": PASSWORD})
    assert response.status_code == 201
    assert response.headers["Location"] == "/users/me"
    user = await response.get_json()
    assert set(user) == {"id", "name", "email", "email_verified", "created_at", "updated_at"}
    assert user["email_verified"] is False
    assert user["name"] == "Ann Lee"
    assert user["email"].lower() == "ann@example.com"
    assert RFC3339_UTC.fullmatch(user["created_at"]) and RFC3339_UTC.fullmatch(user["updated_at"])


async def test_me_returns_the_user(client: Client, ann: dict, session: dict) -> None:
    response = await client.get("/users/me", headers=bearer(session["access_token"]))
    assert response.status_code == 200
    assert await response.get_json() == ann


async def test_no_hash_or_password_in_any_answer(app: Quart, client: Client, ann: dict, session: dict) -> None:
    stored = await app.extensions["idp"].db["credentials"].find_one({"user_id": ann["id"]})
    for response in (await client.get("/users/me", headers=bearer(session["access_token"])),
                     await client.patch("/users/me", json={"name": "Ann B"}, headers=bearer(session["access_token"]))):
        text = await response.get_data(as_text=True)
        assert stored["password_hash"] not in text and PASSWORD not in text and "argon2" not in text


@pytest.mark.parametrize("email", ["ann@example.com", "ANN@example.com", "Ann@EXAMPLE.com"])
async def test_email_is_unique_case_insensitively(client: Client, ann: dict, email: str) -> None:
    response = await client.post("/users", json={"name": "Other", "email": email, "password": PASSWORD})
    assert response.status_code == 409
    assert (await response.get_json())["error"] == "email_taken"


async def test_twenty_concurrent_registrations_of_one_email_give_one_account(client: Client) -> None:
    body = {"name": "Race", "email": "race@example.com", "password": PASSWORD}
    responses = await asyncio.gather(*(client.post("/users", json=body) for _ in range(20)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 19


async def test_fifty_distinct_concurrent_registrations_are_all_usable(client: Client) -> None:
    emails = [f"user{i}@example.com" for i in range(50)]
    responses = await asyncio.gather(*(
        client.post("/users", json={"name": f"U{i}", "email": e, "password": PASSWORD}) for i, e in enumerate(emails)))
    assert all(r.status_code == 201 for r in responses)
    ids = {(await r.get_json())["id"] for r in responses}
    assert len(ids) == 50
    for email in emails[:3]:
        assert (await password_grant(client, email=email)).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"name": "", "email": "a@example.com", "password": PASSWORD}, "name"),
    ({"name": "   ", "email": "a@example.com", "password": PASSWORD}, "name"),
    ({"name": "x" * 201, "email": "a@example.com", "password": PASSWORD}, "name"),
    ({"name": "A", "email": "not-an-email", "password": PASSWORD}, "email"),
    ({"name": "A", "email": "a@example.com", "password": "short"}, "password"),
    ({"name": "A", "email": "a@example.com", "password": "x" * 257}, "password"),
    ({"name": "A", "email": "a@example.com", "password": "password123"}, "password"),
    ({"name": "A", "email": "a@example.com", "password": "PassWord1"}, "password"),
    ({"name": "A", "email": "a@example.com"}, "password"),
    ({"name": "A", "email": "a@example.com", "password": PASSWORD, "admin": True}, "admin"),
    ({"name": None, "email": "a@example.com", "password": PASSWORD}, "name"),
    ({"name": 5, "email": "a@example.com", "password": PASSWORD}, "name"),
    ({"name": "A", "email": {"$ne": None}, "password": PASSWORD}, "email"),
    ({"name": "A", "email": ["a@example.com"], "password": PASSWORD}, "email"),
    # format characters and C1 controls make a name display as something it is not
    ({"name": "Ann\u202eB", "email": "a@example.com", "password": PASSWORD}, "name"),
    ({"name": "A\u200dB", "email": "a@example.com", "password": PASSWORD}, "name"),
    ({"name": "\u200b", "email": "a@example.com", "password": PASSWORD}, "name"),
    ({"name": "\ufeffAnn", "email": "a@example.com", "password": PASSWORD}, "name"),
    ({"name": "A\u0085B", "email": "a@example.com", "password": PASSWORD}, "name"),
    ({"name": "A\u009bB", "email": "a@example.com", "password": PASSWORD}, "name"),
    # the password rules count and compare the NFKC form, the one that is hashed
    ({"name": "A", "email": "a@example.com", "password": "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff11"},
     "password"),
    ({"name": "A", "email": "a@example.com", "password": "e\u0301" * 4}, "password"),
    ({"name": "A", "email": "a@example.com", "password": "\ufdfa" * 15}, "password"),
])
async def test_invalid_registration_names_the_field(app: Quart, client: Client, body: dict, field: str) -> None:
    response = await client.post("/users", json=body)
    assert response.status_code in (400, 422)
    error = await response.get_json()
    assert error["error"] == "invalid_request"
    assert field in error["fields"] and field in error["error_description"]
    assert await app.extensions["idp"].db["users"].count_documents({}) == 0


async def test_common_password_error_says_why(client: Client) -> None:
    response = await client.post("/users", json={"name": "A", "email": "a@example.com", "password": "qwertyuiop"})
    assert "common" in (await response.get_json())["fields"]["password"]


async def test_long_passwords_are_not_truncated(client: Client) -> None:
    long_password = "p" * 100 + "-tail-a" + "q" * 149
    await register(client, email="long@example.com", password=long_password)
    other_tail = "p" * 100 + "-tail-b" + "q" * 149
    assert (await password_grant(client, email="long@example.com", password=other_tail)).status_code == 400
    assert (await password_grant(client, email="long@example.com", password=long_password)).status_code == 200


async def test_a_new_password_is_held_to_the_rules_in_its_normalised_form(client: Client) -> None:
    # "ｐａｓｓｗｏｒｄ１" is "password1" once normalised, and that is what would log in
    response = await client.post("/users", json={"name": "A", "email": "a@example.com",
                                                 "password": "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff11"})
    assert "common" in (await response.get_json())["fields"]["password"]
    # eight code points, four characters
    response = await client.post("/users", json={"name": "A", "email": "a@example.com", "password": "e\u0301" * 4})
    assert "at least 8" in (await response.get_json())["fields"]["password"]
    # eight characters once normalised: accepted, and the composed form logs in
    await register(client, email="e@example.com", password="e\u0301" * 8)
    assert (await password_grant(client, email="e@example.com", password="\u00e9" * 8)).status_code == 200


async def test_patch_name_without_current_password(client: Client, ann: dict, session: dict) -> None:
    response = await client.patch("/users/me", json={"name": " Ann B "}, headers=bearer(session["access_token"]))
    assert response.status_code == 200
    user = await response.get_json()
    assert user["name"] == "Ann B"
    assert user["created_at"] == ann["created_at"]


@pytest.mark.parametrize("body", [{}, {"current_password": PASSWORD}])
async def test_a_patch_that_changes_nothing_is_400(client: Client, ann: dict, session: dict, clock: ManualClock,
                                                   body: dict) -> None:
    clock.advance(5)
    response = await client.patch("/users/me", json=body, headers=bearer(session["access_token"]))
    assert response.status_code == 400
    error = await response.get_json()
    assert error["error"] == "invalid_request"
    assert "nothing to change" in error["error_description"].lower()
    assert await (await client.get("/users/me", headers=bearer(session["access_token"]))).get_json() == ann


@pytest.mark.parametrize("body", [{"name": "Ann\u202e"}, {"name": "A\u0085B"}])
async def test_patch_refuses_format_and_c1_characters_in_the_name(client: Client, ann: dict, session: dict,
                                                                  body: dict) -> None:
    response = await client.patch("/users/me", json=body, headers=bearer(session["access_token"]))
    assert response.status_code == 400
    assert "name" in (await response.get_json())["fields"]


@pytest.mark.parametrize("body", [{"email": "new@example.com"}, {"password": "a new passphrase 42"}])
async def test_changing_email_or_password_needs_current_password(app: Quart, client: Client, ann: dict,
                                                                 session: dict, body: dict) -> None:
    headers = bearer(session["access_token"])
    missing = await client.patch("/users/me", json=body, headers=headers)
    assert missing.status_code == 400
    assert "current_password" in (await missing.get_json())["fields"]
    wrong = await client.patch("/users/me", json={**body, "current_password": "wrong password"}, headers=headers)
    assert wrong.status_code == 403
    assert (await wrong.get_json())["error"] == "invalid_current_password"
    assert await (await client.get("/users/me", headers=headers)).get_json() == ann
    assert (await password_grant(client)).status_code == 200


async def test_change_email(client: Client, ann: dict, session: dict) -> None:
    response = await client.patch("/users/me", json={"email": "New@Example.com", "current_password": PASSWORD},
                                  headers=bearer(session["access_token"]))
    assert response.status_code == 200
    assert (await response.get_json())["email"].lower() == "new@example.com"
    assert (await password_grant(client, email="new@example.com")).status_code == 200
    assert (await password_grant(client, email="ann@example.com")).status_code == 400


async def test_change_email_to_a_taken_one_is_409(client: Client, ann: dict, session: dict) -> None:
    await register(client, email="bob@example.com", name="Bob")
    response = await client.patch("/users/me", json={"email": "BOB@example.com", "current_password": PASSWORD},
                                  headers=bearer(session["access_token"]))
    assert response.status_code == 409
    assert (await response.get_json())["error"] == "email_taken"


async def test_password_change_ends_other_logins_and_keeps_this_one(client: Client, ann: dict) -> None:
    this = await login(client)
    other = await login(client)
    confidential = await login(client, client_id="backend")
    new_password = "a brand new passphrase"
    response = await client.patch("/users/me", json={"password": new_password, "current_password": PASSWORD},
                                  headers=bearer(this["access_token"]))
    assert response.status_code == 200
    assert await me_status(client, this["access_token"]) == 200
    assert (await refresh(client, this["refresh_token"])).status_code == 200
    for ended in (other, confidential):
        assert await me_status(client, ended["access_token"]) == 401
        assert await introspect(client, ended["access_token"]) == {"active": False}
    assert await introspect(client, confidential["refresh_token"], client_id="backend") == {"active": False}
    assert (await refresh(client, other["refresh_token"])).status_code == 400
    assert (await password_grant(client)).status_code == 400
    assert (await password_grant(client, password=new_password)).status_code == 200


async def test_password_change_during_a_refresh_storm_leaves_no_other_login_alive(client: Client, ann: dict) -> None:
    this = await login(client)
    others = [await login(client) for _ in range(3)]
    issued: list[dict] = list(others)

    async def change() -> None:
        await asyncio.sleep(0.02)
        response = await client.patch("/users/me", json={"password": "another new passphrase",
                                                         "current_password": PASSWORD},
                                      headers=bearer(this["access_token"]))
        assert response.status_code == 200

    await asyncio.gather(change(), *(refresh_storm(client, t["refresh_token"], issued, 10) for t in others))
    for tokens in issued:
        assert await me_status(client, tokens["access_token"]) == 401
        assert (await refresh(client, tokens["refresh_token"])).status_code == 400
    assert await me_status(client, this["access_token"]) == 200


async def test_delete_needs_the_current_password(client: Client, ann: dict, session: dict) -> None:
    headers = bearer(session["access_token"])
    missing = await client.delete("/users/me", json={}, headers=headers)
    assert missing.status_code == 400
    assert "current_password" in (await missing.get_json())["fields"]
    wrong = await client.delete("/users/me", json={"current_password": "nope nope nope"}, headers=headers)
    assert wrong.status_code == 403
    assert await me_status(client, session["access_token"]) == 200


async def test_delete_removes_the_user_and_every_token(app: Quart, client: Client, ann: dict, session: dict) -> None:
    other = await login(client)
    response = await client.delete("/users/me", json={"current_password": PASSWORD},
                                   headers=bearer(session["access_token"]))
    assert response.status_code == 204
    assert await response.get_data() == b""
    for tokens in (session, other):
        assert await me_status(client, tokens["access_token"]) == 401
        assert (await refresh(client, tokens["refresh_token"])).status_code == 400
        assert await introspect(client, tokens["access_token"]) == {"active": False}
    db = app.extensions["idp"].db
    for collection in ("users", "credentials", "session_lists", "sessions"):
        assert await db[collection].count_documents({}) == 0, collection
    assert (await password_grant(client)).status_code == 400
    # the e-mail is free again
    await register(client)


# -- Bearer authentication (RFC 6750 §3) ----------------------------------------------------

async def test_no_token_is_401_with_a_bare_challenge(client: Client) -> None:
    response = await client.get("/users/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.mimetype == "application/json"


@pytest.mark.parametrize("header", ["Bearer garbage", "Bearer ", "Bearer a.b.c", "bearer x.y.z"])
async def test_bad_token_is_401_invalid_token(client: Client, header: str) -> None:
    response = await client.get("/users/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


async def test_token_without_account_scope_is_403(client: Client, ann: dict) -> None:
    tokens = await login(client, scope="profile")
    response = await client.get("/users/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    assert (await response.get_json())["error"] == "insufficient_scope"


@pytest.mark.parametrize("email", ["ann@corp.local", "ann@example.test", "ann.lee+tag@sub.example.org"])
async def test_directory_and_test_domains_are_accepted(client: Client, email: str) -> None:
    await register(client, email=email)
    assert (await password_grant(client, email=email.upper())).status_code == 200


@pytest.mark.parametrize("email", ["ann@localhost", "ann@x.invalid", "ann@@example.com", "ann@exa mple.com"])
async def test_undeliverable_addresses_are_refused(client: Client, email: str) -> None:
    response = await client.post("/users", json={"name": "A", "email": email, "password": PASSWORD})
    assert response.status_code == 400
    assert "email" in (await response.get_json())["fields"]


async def test_passwords_are_compared_after_unicode_normalisation(client: Client) -> None:
    composed, decomposed = "caf\u00e9 au lait tous les jours", "cafe\u0301 au lait tous les jours"
    await register(client, email="uni@example.com", password=composed)
    assert (await password_grant(client, email="uni@example.com", password=decomposed)).status_code == 200
