"""Argon2 in its own low-priority pool: a burst of logins queues logins, not the rest."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from idp.accounts import passwords
from idp.accounts.hashing import HashingPool
from tests.conftest import CHEAP_HASHER, SECRETS
from tests.helpers import basic, password_grant, post_form, register


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"hash_workers": 1}


class SlowHasher:
    """The cheap hasher, but each verification takes `seconds` (slept: real threads, no CPU)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def verify(self, stored: str, password: str) -> bool:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.seconds)
            return CHEAP_HASHER.verify(stored, password)
        finally:
            with self._lock:
                self.running -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(CHEAP_HASHER, name)


async def test_a_burst_of_slow_hashes_does_not_delay_client_credentials(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    await register(client)
    slow = SlowHasher(0.15)
    monkeypatch.setattr(passwords, "_hasher", slow)
    finished: list[int] = []

    async def login() -> None:
        finished.append((await password_grant(client)).status_code)

    # more logins than the I/O pool had threads when argon2 ran in it (8)
    logins = [asyncio.create_task(login()) for _ in range(10)]
    await asyncio.sleep(0.05)
    response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials"},
                               headers=basic("service", SECRETS["service"]))
    done_meanwhile = len(finished)
    await asyncio.gather(*logins)

    assert response.status_code == 200
    # with hash_workers=1 the logins take 1.5 s one after the other; the grant did not wait for them
    assert done_meanwhile <= 2, f"{done_meanwhile} logins finished before the client_credentials grant"
    assert finished == [200] * 10
    assert slow.most_at_once == 1  # IDP_HASH_WORKERS bounds the hashing


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
async def test_hashes_run_in_their_own_pool_at_a_lower_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int]] = []

    def noting(password: str) -> str:
        tid = threading.get_native_id()
        seen.append((tid, os.getpriority(os.PRIO_PROCESS, tid)))
        return "hash"

    monkeypatch.setattr(passwords, "hash_password", noting)
    pool = HashingPool(1)
    try:
        assert await pool.hash("a password") == "hash"
    finally:
        pool.shutdown()
    loop_tid = threading.get_native_id()
    [(thread, nice)] = seen
    assert thread != loop_tid
    assert nice > os.getpriority(os.PRIO_PROCESS, loop_tid) or nice == 19


async def test_the_event_loop_answers_while_logins_hash(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A login awaits its hash on the loop: no thread of any other pool is held, and the
    loop keeps answering (the probe here waits for no thread at all)."""
    await register(client)
    monkeypatch.setattr(passwords, "_hasher", SlowHasher(0.2))
    logins = [asyncio.create_task(password_grant(client)) for _ in range(5)]
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    assert (await client.get("/healthz")).status_code == 200
    probe = time.perf_counter() - started
    await asyncio.gather(*logins)
    assert probe < 0.1, f"/healthz took {probe:.3f} s while logins hashed"


async def test_a_cancelled_wait_leaves_the_queue_gauge_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    from idp.ops import metrics

    monkeypatch.setattr(passwords, "_hasher", SlowHasher(0.2))
    pool = HashingPool(1)
    before = metrics.HASH_QUEUE._value.get()
    try:
        running = asyncio.create_task(pool.verify(None, "x"))
        queued = asyncio.create_task(pool.verify(None, "y"))
        await asyncio.sleep(0.05)
        assert metrics.HASH_QUEUE._value.get() == before + 1  # one runs, one waits
        queued.cancel()
        await asyncio.gather(running, queued, return_exceptions=True)
    finally:
        pool.shutdown()
    assert metrics.HASH_QUEUE._value.get() == before


def test_hashing_is_a_plain_function_for_command_line_tools() -> None:
    """`idp users add` and the tests hash without a server around them."""
    stored = passwords.hash_password("correct horse")
    assert passwords.verify_password(stored, "correct horse")
    assert not passwords.verify_password(stored, "wrong horse")


@pytest.mark.parametrize("settings_overrides", [{"hash_workers": 1, "db_timeout": 1}])
async def test_waiting_for_a_hash_does_not_spend_the_database_budget(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """IDP_DB_TIMEOUT bounds the waits for MongoDB: a login queued behind other hashes for
    longer than that is still answered, not 503."""
    await register(client)
    monkeypatch.setattr(passwords, "_hasher", SlowHasher(0.5))
    statuses = [r.status_code for r in await asyncio.gather(*(password_grant(client) for _ in range(4)))]
    assert statuses == [200] * 4  # the last waited about 2 s for its hash
