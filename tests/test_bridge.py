"""The sync/async bridge: its guard rails, and what a failing hook looks like over HTTP."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.oauth.authlib.bridge import Bridge, BridgeError, wait
from tests.helpers import password_grant, post_form, register

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


async def value_after_a_tick(value: int) -> int:
    await asyncio.sleep(0)
    return value


async def test_worker_runs_off_the_loop_and_reaches_it_through_wait() -> None:
    bridge = Bridge(workers=2)
    loop_thread = threading.get_ident()

    def work() -> tuple[int, int]:
        return threading.get_ident(), wait(value_after_a_tick(41)) + 1

    worker_thread, result = await bridge.run_sync(work)
    assert worker_thread != loop_thread and result == 42
    bridge.shutdown()


async def test_contextvars_are_carried_into_the_worker() -> None:
    bridge = Bridge(workers=1)
    marker.set("from the request")
    assert await bridge.run_sync(marker.get) == "from the request"
    bridge.shutdown()


def test_wait_outside_a_bridge_call_refuses_and_closes_the_coroutine() -> None:
    coro = value_after_a_tick(1)
    with pytest.raises(BridgeError):
        wait(coro)
    assert coro.cr_frame is None  # closed, so no "never awaited" warning


async def test_wait_on_the_loop_thread_refuses_instead_of_deadlocking() -> None:
    bridge = Bridge(workers=1)
    captured: list[contextvars.Context] = []
    await bridge.run_sync(lambda: captured.append(contextvars.copy_context()))
    coro = value_after_a_tick(1)
    with pytest.raises(BridgeError, match="deadlock"):
        captured[0].run(wait, coro)
    assert coro.cr_frame is None
    bridge.shutdown()


async def test_a_hook_that_hangs_times_out_instead_of_hanging_the_request() -> None:
    bridge = Bridge(workers=1)

    def work() -> None:
        wait(asyncio.sleep(10), timeout=0.05)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(bridge.run_sync(work), timeout=5)
    bridge.shutdown()


async def test_an_exception_in_a_hook_becomes_a_clean_json_500(app: Quart, client: Client) -> None:
    await register(client)

    def broken(*args: object) -> None:
        raise RuntimeError("database exploded")

    app.extensions["idp"].registry.get = broken
    response = await password_grant(client)
    assert response.status_code == 500
    body = await response.get_json()
    assert body["error"] == "server_error"
    assert "exploded" not in await response.get_data(as_text=True)


async def test_the_app_still_serves_after_a_failing_hook(app: Quart, client: Client) -> None:
    registry = app.extensions["idp"].registry
    original = registry.get

    def broken(*args: object) -> None:
        raise RuntimeError("transient")

    form = {"grant_type": "client_credentials", "client_id": "poster", "client_secret": "poster-secret-0123456789"}
    registry.get = broken
    assert (await post_form(client, "/oauth/token", form)).status_code == 500
    registry.get = original
    assert (await post_form(client, "/oauth/token", form)).status_code == 200
