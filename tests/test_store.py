"""The store layer: indexes, and the guard against operator-shaped query values."""

from __future__ import annotations

import pytest
from quart import Quart

from idp.store.mongo import ensure_indexes
from idp.store.users import UserStore
from idp.store.values import text


async def test_ensure_indexes_is_idempotent(app: Quart) -> None:
    db = app.extensions["idp"].db
    await ensure_indexes(db)  # the app ran it at start already
    await ensure_indexes(db)
    users = await db["users"].index_information()
    assert users["email_key_unique"]["unique"] is True
    refresh = await db["refresh_tokens"].index_information()
    assert refresh["parent_unique"]["unique"] is True


@pytest.mark.parametrize("value", [{"$ne": None}, ["a"], 1, None, b"bytes"])
def test_only_strings_reach_a_query(value: object) -> None:
    with pytest.raises(TypeError):
        text(value)


async def test_a_store_refuses_an_operator_even_if_validation_were_bypassed(app: Quart) -> None:
    users = UserStore(app.extensions["idp"].db)
    with pytest.raises(TypeError):
        await users.by_email_key({"$ne": None})  # type: ignore[arg-type]
