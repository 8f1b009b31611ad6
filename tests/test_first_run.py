"""A first run in memory without a clients file: a demo client, and how to use it, printed."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from quart.typing import TestClientProtocol as Client

from idp.app import create_app
from idp.settings import Settings
from tests.helpers import FORM


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"clients_file": None, "mongo_uri": "memory://", "issuer": "http://127.0.0.1:8123"}


async def test_the_printed_commands_register_and_log_in_with_the_demo_client(
        capsys: pytest.CaptureFixture[str], client: Client) -> None:
    printed = capsys.readouterr().err
    assert "FIRST RUN" in printed and "'demo'" in printed
    curls = [shlex.split(line) for line in printed.splitlines() if line.strip().startswith("curl ")]
    assert len(curls) == 2

    register, login = curls
    assert register[2] == "http://127.0.0.1:8123/users"
    response = await client.post("/users", data=register[register.index("-d") + 1],
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 201, await response.get_data(as_text=True)

    assert login[2] == "http://127.0.0.1:8123/oauth/token"
    form = [tuple(arg.split("=", 1)) for prev, arg in zip(login, login[1:], strict=False)
            if prev in ("-d", "--data-urlencode")]
    response = await client.post("/oauth/token", data=urlencode(form), headers=FORM)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert (await response.get_json())["scope"] == "account"


def test_never_on_a_real_database_nor_beside_a_clients_file(tmp_path: Path) -> None:
    clients_file = tmp_path / "clients.json"
    clients_file.write_text("[]")
    for settings in (Settings(mongo_uri="mongodb://127.0.0.1:1", keys_dir=tmp_path / "keys"),
                     Settings(mongo_uri="memory://", keys_dir=tmp_path / "keys", clients_file=clients_file)):
        services = create_app(settings).extensions["idp"]
        assert services.client_entries == []
        asyncio.run(services.close())


@pytest.mark.parametrize("settings_overrides", [{"clients_file": None, "mongo_uri": "memory://",
                                                 "issuer": "http://127.0.0.1:8123", "self_registration": "closed"}])
async def test_closed_registration_prints_no_command_that_cannot_work(
        capsys: pytest.CaptureFixture[str], client: Client) -> None:
    printed = capsys.readouterr().err
    assert "FIRST RUN" in printed and "IDP_SELF_REGISTRATION is closed" in printed
    assert "curl" not in printed and "Register a user" not in printed
