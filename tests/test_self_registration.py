"""IDP_SELF_REGISTRATION=closed: POST /users says so, and the documents say the same."""

from __future__ import annotations

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from idp.settings import ConfigError, Settings


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"self_registration": "closed"}


async def test_closed_registration_is_403_registration_closed(client: Client) -> None:
    for body in ({"name": "Ann", "email": "ann@example.com", "password": "correct horse battery staple"},
                 {"not": "even valid"}):
        response = await client.post("/users", json=body)
        assert response.status_code == 403
        answer = await response.get_json()
        assert answer["error"] == "registration_closed" and answer["error_description"]


async def test_openapi_says_registration_is_closed(client: Client) -> None:
    register = (await (await client.get("/openapi.json")).get_json())["paths"]["/users"]["post"]
    assert set(register["responses"]) == {"403"} and "closed" in register["summary"]
    assert "requestBody" not in register
    metadata = await (await client.get("/.well-known/oauth-authorization-server")).get_json()
    assert "registration_endpoint" not in metadata


def test_open_is_the_default_and_nothing_else_is_accepted() -> None:
    assert Settings.from_env({}).registration_open
    assert not Settings.from_env({"IDP_SELF_REGISTRATION": "closed"}).registration_open
    with pytest.raises(ConfigError, match="IDP_SELF_REGISTRATION must be open or closed, not 'Closed'"):
        Settings.from_env({"IDP_SELF_REGISTRATION": "Closed"})
