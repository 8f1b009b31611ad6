"""User enumeration: an unknown e-mail and a wrong password look and take the same."""

from __future__ import annotations

import statistics
import time

import pytest
from quart.typing import TestClientProtocol as Client

from tests.helpers import password_grant, register

TRIES = 15


@pytest.fixture
def settings_overrides() -> dict:
    return {"login_max_failures": 1000, "ip_max_failures": 1000}


async def timed(client: Client, email: str, password: str) -> tuple[float, int, dict]:
    started = time.perf_counter()
    response = await password_grant(client, email=email, password=password)
    return time.perf_counter() - started, response.status_code, await response.get_json()


@pytest.mark.production_argon2
async def test_unknown_email_and_wrong_password_take_about_the_same_time(client: Client) -> None:
    await register(client)
    unknown, wrong = [], []
    for i in range(TRIES):  # interleaved, so that drift in machine load hits both alike
        elapsed, status, body = await timed(client, f"nobody{i}@example.com", "some password")
        unknown.append(elapsed)
        assert (status, body["error"]) == (400, "invalid_grant")
        elapsed, status, body = await timed(client, "ann@example.com", "some password")
        wrong.append(elapsed)
        assert (status, body["error"]) == (400, "invalid_grant")
    a, b = statistics.median(unknown), statistics.median(wrong)
    # both are dominated by one argon2 verification; a skipped verification would be 10x faster
    assert abs(a - b) / max(a, b) < 0.25, (a, b)
