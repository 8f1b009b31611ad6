"""The clients file is the source of truth: a client no longer in it stops working."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from quart import Quart

import idp.wiring
from idp.app import create_app
from idp.oauth.clients_file import read_clients_file
from idp.settings import ConfigError, Settings
from tests.conftest import CLIENTS, TEST_MONGO_URI, ManualClock
from tests.helpers import basic, bearer, introspect, login, post_form, refresh


async def test_a_client_removed_from_the_file_and_its_tokens_stop_working(
    app: Quart, client, ann: dict, settings: Settings, clock: ManualClock, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    web = await login(client)
    service_token = await (await post_form(client, "/oauth/token", {"grant_type": "client_credentials"},
                                           basic("service"))).get_json()
    smaller = tmp_path / "smaller.json"
    # backend may introspect other clients' access tokens: only the removal makes them inactive
    smaller.write_text(json.dumps([{**c, "introspection": True} if c["client_id"] == "backend" else c
                                   for c in CLIENTS if c["client_id"] not in ("web", "service")]))
    services = app.extensions["idp"]
    if not TEST_MONGO_URI:  # in memory, the restarted server must see the same in-process store
        monkeypatch.setattr(idp.wiring, "connect", lambda *args: (_Unclosed(services.mongo_client), services.db))
    restarted = create_app(Settings(**{**settings.__dict__, "clients_file": smaller}), clock=clock)
    with caplog.at_level(logging.WARNING):
        async with restarted.test_app():
            after = restarted.test_client()
            response = await refresh(after, web["refresh_token"])
            assert response.status_code == 401
            assert (await response.get_json())["error"] == "invalid_client"
            assert (await after.get("/users/me", headers=bearer(web["access_token"]))).status_code == 401
            for token in (web["access_token"], service_token["access_token"]):
                assert await introspect(after, token, client_id="backend") == {"active": False}
            metadata = await (await after.get("/.well-known/oauth-authorization-server")).get_json()
            stored = {doc["_id"]: doc["in_file"] async for doc in services.db["clients"].find()}
    assert stored["web"] is False and stored["service"] is False and stored["backend"] is True
    assert "read" in metadata["scopes_supported"]  # backend still has it
    removed = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "client.removed"]
    assert {r.fields["client_id"] for r in removed} == {"web", "service"}


class _Unclosed:
    """The first app's client, lent to the second: the second must not close it."""

    def __init__(self, client: object) -> None:
        self._client = client

    def close(self) -> None:
        pass


def test_every_secret_of_the_example_file_stops_the_start_naming_its_client(tmp_path: Path) -> None:
    """Whatever the client is called: the secret itself is public."""
    example = json.loads((Path(__file__).resolve().parent.parent / "clients.example.json").read_text())
    confidential = [entry for entry in example if entry.get("client_secret")]
    assert len(confidential) >= 3
    for entry in confidential:
        renamed = {**entry, "client_id": f"mine-{entry['client_id']}"}
        path = tmp_path / "clients.json"
        path.write_text(json.dumps([renamed]))
        with pytest.raises(ConfigError) as error:
            read_clients_file(path)
        message = str(error.value)
        assert "\n" not in message and f"'mine-{entry['client_id']}'" in message
        assert "clients.example.json" in message and entry["client_secret"] not in message
        path.write_text(json.dumps([{**renamed, "client_secret": entry["client_secret"] + "-changed"}]))
        assert [e.client_id for e in read_clients_file(path)] == [renamed["client_id"]]
