"""OWASP's device cookie: guessing spread over many addresses reaches the account's
all-address limit and locks out strangers — not a browser that signed in before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from tests.authorize_flow import BROWSER_CLIENTS, authorize_params, sign_in
from tests.conftest import CLIENTS


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(CLIENTS + BROWSER_CLIENTS))
    return path


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"login_max_failures": 3, "account_max_failures": 4, "ip_max_failures": 50, "login_window": 60}


async def test_a_browser_that_signed_in_before_is_exempt_from_the_account_s_limit(app: Quart, ann: dict) -> None:
    owner, stranger = app.test_client(), app.test_client()
    first = await sign_in(owner, authorize_params("webapp"))
    assert first.status_code in (302, 303) and "code=" in first.headers["Location"]

    for i in range(5):  # wrong passwords from five addresses: the account's limit is reached
        body = f"grant_type=password&client_id=web&username=ann%40example.com&password=wrong+password+{i}"
        await stranger.post("/oauth/token", data=body, scope_base={"client": (f"203.0.113.{i}", 5000)},
                            headers={"Content-Type": "application/x-www-form-urlencoded"})

    refused = await sign_in(stranger, authorize_params("webapp"))
    assert refused.status_code == 429  # a browser new to the account waits
    again = await sign_in(owner, authorize_params("webapp", prompt="login"))
    assert again.status_code in (302, 303) and "code=" in again.headers["Location"]
