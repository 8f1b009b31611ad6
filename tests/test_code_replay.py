"""A used code replayed: only its own client, proving the PKCE verifier, ends the login
the code started; anyone else's replay is an unusable code and ends nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from tests.authorize_flow import BROWSER_CLIENTS, answer, authorize_params, pkce, redeem, sign_in
from tests.conftest import CLIENTS
from tests.helpers import bearer


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(CLIENTS + BROWSER_CLIENTS))
    return path


async def _redeemed(client: Client) -> tuple[str, str, dict[str, str]]:
    verifier, challenge = pkce()
    code = answer(await sign_in(client, authorize_params("webapp", challenge)))["code"]
    response = await redeem(client, code, verifier)
    assert response.status_code == 200
    return code, verifier, await response.get_json()


async def _works(client: Client, tokens: dict[str, str]) -> bool:
    return (await client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))).status_code == 200


@pytest.mark.parametrize("replayer", ["spa", "native"])
async def test_a_used_code_replayed_by_another_client_ends_nothing(client: Client, ann: dict, replayer: str) -> None:
    code, verifier, tokens = await _redeemed(client)
    replay = await redeem(client, code, verifier, replayer)
    assert replay.status_code == 400 and (await replay.get_json())["error"] == "invalid_grant"
    assert await _works(client, tokens)


async def test_a_used_code_replayed_without_its_verifier_ends_nothing(client: Client, ann: dict) -> None:
    code, _, tokens = await _redeemed(client)
    for verifier in (None, pkce()[0]):
        replay = await redeem(client, code, verifier)
        assert replay.status_code == 400
    assert await _works(client, tokens)


async def test_a_used_code_replayed_by_its_client_ends_the_login(client: Client, ann: dict) -> None:
    code, verifier, tokens = await _redeemed(client)
    replay = await redeem(client, code, verifier)
    assert replay.status_code == 400 and (await replay.get_json())["error"] == "invalid_grant"
    assert not await _works(client, tokens)
