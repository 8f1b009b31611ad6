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
from idp.oauth.authlib.bridge import Bridge, BridgeError, run_cpu_bound
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
async def test_cpu_work_runs_in_its_own_pool_at_a_lower_priority() -> None:
    bridge = Bridge(workers=1, cpu_workers=1)

    def nice() -> tuple[int, int]:
        tid = threading.get_native_id()
        return tid, os.getpriority(os.PRIO_PROCESS, tid)

    def work() -> tuple[tuple[int, int], tuple[int, int]]:
        return nice(), run_cpu_bound(nice)

    (io_thread, io_nice), (cpu_thread, cpu_nice) = await bridge.run_sync(work)
    bridge.shutdown()
    assert cpu_thread != io_thread
    assert cpu_nice > io_nice or io_nice == 19


async def test_hashing_on_the_event_loop_is_refused() -> None:
    with pytest.raises(BridgeError, match="event loop"):
        passwords.hash_password("a password on the loop")


async def test_hashing_outside_the_bridge_runs_in_the_calling_thread() -> None:
    """Command-line tools hash without a server around them."""
    stored = await asyncio.to_thread(passwords.hash_password, "correct horse")
    assert await asyncio.to_thread(passwords.verify_password, stored, "correct horse")
