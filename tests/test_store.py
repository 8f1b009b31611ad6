"""The store layer: indexes, uniqueness by `_id`, the upgrade of older data, and the
guard against operator-shaped query values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from quart import Quart

from idp.store.migrations import migrate
from idp.store.indexes import ensure_indexes
from idp.store.users import Credentials, EmailTaken, User, UserStore
from idp.store.values import text
from tests.helpers import PASSWORD, login, password_grant, refresh


async def test_ensure_indexes_is_idempotent(app: Quart) -> None:
    db = app.extensions["idp"].db
    await ensure_indexes(db)  # the app ran it at start already
    await ensure_indexes(db)
    assert "user_id" in await db["sessions"].index_information()


async def test_an_email_is_unique_because_it_keys_the_credentials(app: Quart) -> None:
    users = UserStore(app.extensions["idp"].db)
    now = datetime.now(UTC)
    await users.create(User("u1", "A", "a@example.com", "a@example.com", now, now),
                       Credentials("a@example.com", "u1", "hash", "stamp"))
    with pytest.raises(EmailTaken):
        await users.create(User("u2", "B", "A@example.com", "a@example.com", now, now),
                           Credentials("a@example.com", "u2", "hash", "stamp"))
    assert await users.by_id("u2") is None


@pytest.mark.parametrize("value", [{"$ne": None}, ["a"], 1, None, b"bytes"])
def test_only_strings_reach_a_query(value: object) -> None:
    with pytest.raises(TypeError):
        text(value)


async def test_a_store_refuses_an_operator_even_if_validation_were_bypassed(app: Quart) -> None:
    users = UserStore(app.extensions["idp"].db)
    with pytest.raises(TypeError):
        await users.credentials({"$ne": None})  # type: ignore[arg-type]


async def test_accounts_of_the_older_shape_keep_their_passwords(app: Quart, client, ann: dict) -> None:
    """Before keyed logins, the hash lived on the user and refresh tokens had their own
    collection: the upgrade keeps every account's password and ends the old logins."""
    db = app.extensions["idp"].db
    old_login = await login(client)
    credentials = await db["credentials"].find_one({"user_id": ann["id"]})
    await db["users"].update_one({"_id": ann["id"]}, {"$set": {"password_hash": credentials["password_hash"]}})
    await db["credentials"].delete_many({})
    await db["session_lists"].delete_many({})
    await db["sessions"].update_many({}, {"$unset": {"secret_hash": ""}})
    await db["meta"].delete_many({})
    assert (await password_grant(client)).status_code == 400

    await migrate(db)
    await migrate(db)  # once only

    assert "password_hash" not in await db["users"].find_one({"_id": ann["id"]})
    assert (await refresh(client, old_login["refresh_token"])).status_code == 400
    assert (await password_grant(client, password=PASSWORD)).status_code == 200
