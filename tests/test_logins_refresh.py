"""The refresh lifecycle (idp.logins.refresh) over fakes of the store Protocols, and its
one atomic step (LoginStorage.rotate) on the real store, under real asyncio concurrency."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from idp.logins.logins import Logins
from idp.logins.refresh import Refresh, RefreshReused, RefreshUnknown, new_refresh_token
from idp.store.logins import LoginStore
from idp.store.mongo import close, connect
from idp.store.records import Login
from tests.conftest import TEST_MONGO_URI, ManualClock
from tests.logins_fakes import FakeLogins

USER = "user-1"


class Lifecycle:
    def __init__(self, store: Any, grace: int = 0) -> None:
        self.clock = ManualClock()
        self.store = store
        self.logins = Logins(store, self.clock, refresh_ttl=3600, access_ttl=60, max_per_user=10)
        self.refresh = Refresh(store, self.clock, grace_seconds=grace)

    async def login(self, client_id: str = "app") -> str:
        token = new_refresh_token(uuid.uuid4().hex)
        sid, secret = token.split(".")
        await self.store.create(self.logins.new(sid, USER, client_id, "read", secret))
        return token

    async def rotate(self, token: str, client_id: str = "app") -> str:
        login = await self.refresh.present(token, client_id)
        successor = new_refresh_token(login.sid)
        await self.refresh.rotate(login, token, successor)
        return successor

    async def live(self, token: str) -> bool:
        return (await self.store.get(token.split(".")[0], datetime.now(UTC))) is not None


def _reused_events(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "refresh.reused"]


async def test_a_current_token_rotates_and_its_successor_is_current() -> None:
    life = Lifecycle(FakeLogins())
    first = await life.login()
    second = await life.rotate(first)
    third = await life.rotate(second)
    assert (await life.refresh.present(third, "app")).generation == 2


async def test_a_rotated_token_is_reuse_and_ends_the_login(caplog: pytest.LogCaptureFixture) -> None:
    life = Lifecycle(FakeLogins())
    first = await life.login()
    second = await life.rotate(first)
    with caplog.at_level(logging.INFO), pytest.raises(RefreshReused):
        await life.refresh.present(first, "app")
    assert len(_reused_events(caplog)) == 1
    assert not await life.live(second)
    with pytest.raises(RefreshUnknown):
        await life.refresh.present(second, "app")


@pytest.mark.parametrize("token", ["", "garbage", "0" * 32 + "." + "A" * 43])
async def test_unknown_tokens_are_unknown(token: str) -> None:
    life = Lifecycle(FakeLogins())
    await life.login()
    with pytest.raises(RefreshUnknown):
        await life.refresh.present(token, "app")


async def test_another_clients_token_is_unknown_and_ends_nothing() -> None:
    life = Lifecycle(FakeLogins())
    first = await life.login()
    second = await life.rotate(first)
    for token in (first, second):  # not even a used one ends the login when another client shows it
        with pytest.raises(RefreshUnknown):
            await life.refresh.present(token, "other")
    assert await life.rotate(second)


async def test_an_expired_token_is_unknown() -> None:
    life = Lifecycle(FakeLogins())
    first = await life.login()
    life.clock.advance(3601)
    with pytest.raises(RefreshUnknown):
        await life.refresh.present(first, "app")


# -- concurrency ------------------------------------------------------------------------

async def _real_store() -> tuple[LoginStore, Any]:
    client, db = connect(TEST_MONGO_URI or "memory://", f"idp_unit_{uuid.uuid4().hex[:12]}")
    return LoginStore(db), client


async def test_of_concurrent_store_rotations_of_one_generation_exactly_one_wins() -> None:
    """The real store's compare-and-set (memory, or the wire server with IDP_TEST_MONGO_URI)."""
    store, client = await _real_store()
    try:
        life = Lifecycle(store)
        first = await life.login()
        login = await life.refresh.present(first, "app")
        results = await asyncio.gather(*(
            store.rotate(login, f"hash-{n}", datetime.now(UTC), retriable=True) for n in range(16)))
        assert results.count(True) == 1
        stored = await store.get(login.sid, datetime.now(UTC))
        assert stored is not None and stored.generation == 1
        assert stored.secret_hash == f"hash-{results.index(True)}"
        assert stored.used_hashes == (login.secret_hash,)
    finally:
        if TEST_MONGO_URI:
            await client.drop_database(store._logins.database.name)
        await close(client)


@pytest.mark.parametrize("store_kind", ["fake", "real"])
async def test_of_n_concurrent_refreshes_with_one_token_one_wins_and_the_rest_is_reuse(store_kind: str) -> None:
    if store_kind == "real":
        store, client = await _real_store()
    else:
        store, client = FakeLogins(), None
    try:
        life = Lifecycle(store)
        first = await life.login()
        outcomes = await asyncio.gather(*(life.rotate(first) for _ in range(8)), return_exceptions=True)
        winners = [o for o in outcomes if isinstance(o, str)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(o, (RefreshReused, RefreshUnknown)) for o in outcomes if not isinstance(o, str))
        assert any(isinstance(o, RefreshReused) for o in outcomes)
        assert not await life.live(first)  # two holders of one token: the login ended
    finally:
        if client is not None:
            await close(client)


# -- the grace period --------------------------------------------------------------------

async def test_within_the_grace_the_last_rotated_token_rotates_again(caplog: pytest.LogCaptureFixture) -> None:
    life = Lifecycle(FakeLogins(), grace=30)
    first = await life.login()
    lost = await life.rotate(first)
    life.clock.advance(29)
    with caplog.at_level(logging.INFO):
        retried = await life.rotate(first)
    assert not _reused_events(caplog)
    assert (await life.refresh.present(retried, "app")).generation == 2
    # the pair the retry replaced is used, with no retry of its own: its holder is
    # caught at its next refresh, however soon
    with pytest.raises(RefreshReused):
        await life.refresh.present(lost, "app")


async def test_after_the_grace_it_is_reuse() -> None:
    life = Lifecycle(FakeLogins(), grace=30)
    first = await life.login()
    await life.rotate(first)
    life.clock.advance(31)
    with pytest.raises(RefreshReused):
        await life.refresh.present(first, "app")


async def test_two_generations_back_is_reuse_even_within_the_grace() -> None:
    life = Lifecycle(FakeLogins(), grace=30)
    first = await life.login()
    second = await life.rotate(first)
    await life.rotate(second)
    with pytest.raises(RefreshReused):
        await life.refresh.present(first, "app")


async def test_no_grace_for_another_client() -> None:
    life = Lifecycle(FakeLogins(), grace=30)
    first = await life.login()
    await life.rotate(first)
    with pytest.raises(RefreshUnknown):
        await life.refresh.present(first, "other")


# -- an interrupted rotation -------------------------------------------------------------

class Interrupted(Exception):
    pass


class FailingRotation(FakeLogins):
    """Fails one rotation before or after its single update."""

    def __init__(self, when: str) -> None:
        super().__init__()
        self.when = when

    async def rotate(self, login: Login, new_secret_hash: str, now: datetime, *, retriable: bool) -> bool:
        if self.when == "before":
            self.when = ""
            raise Interrupted()
        done = await super().rotate(login, new_secret_hash, now, retriable=retriable)
        if self.when == "after":
            self.when = ""
            raise Interrupted()  # the update happened; the answer is lost
        return done


async def test_a_rotation_interrupted_before_its_update_leaves_the_token_working() -> None:
    life = Lifecycle(FailingRotation("before"))
    first = await life.login()
    with pytest.raises(Interrupted):
        await life.rotate(first)
    second = await life.rotate(first)  # the retry works: nothing had happened
    assert (await life.refresh.present(second, "app")).generation == 1


async def test_a_rotation_interrupted_after_its_update_replaced_the_token() -> None:
    """Without a grace period the retry is reuse, exactly as a client that lost the answer."""
    life = Lifecycle(FailingRotation("after"))
    first = await life.login()
    with pytest.raises(Interrupted):
        await life.rotate(first)
    login = life.store.logins[first.split(".")[0]]
    assert login.generation == 1 and len(login.used_hashes) == 1  # replaced entirely, not half
    with pytest.raises(RefreshReused):
        await life.rotate(first)


async def test_with_a_grace_a_rotation_interrupted_after_its_update_can_be_retried(
        caplog: pytest.LogCaptureFixture) -> None:
    life = Lifecycle(FailingRotation("after"), grace=30)
    first = await life.login()
    with pytest.raises(Interrupted):
        await life.rotate(first)
    with caplog.at_level(logging.INFO):
        retried = await life.rotate(first)
    assert not _reused_events(caplog)
    login = await life.refresh.present(retried, "app")
    assert login.generation == 2  # one live refresh token: the retried one
