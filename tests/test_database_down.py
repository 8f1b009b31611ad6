"""A database that does not answer: 503 with Retry-After within IDP_DB_TIMEOUT, never a 500."""

from __future__ import annotations

import time
from pathlib import Path

from idp.app import create_app
from idp.settings import Settings
from tests.conftest import free_port
from tests.helpers import PASSWORD, basic, post_form

TIMEOUT = 1


async def test_requests_that_need_the_database_answer_503_in_time(tmp_path: Path, clients_file: Path) -> None:
    settings = Settings(mongo_uri=f"mongodb://127.0.0.1:{free_port()}/", mongo_db="idp_down",
                        keys_dir=tmp_path / "keys", clients_file=clients_file, db_timeout=TIMEOUT)
    app = create_app(settings)
    async with app.test_app():
        client = app.test_client()
        for request in (
            lambda: client.post("/users", json={"name": "Ann", "email": "ann@example.com", "password": PASSWORD}),
            lambda: post_form(client, "/oauth/token", {"grant_type": "password", "username": "ann@example.com",
                                                       "password": PASSWORD, "client_id": "web"}),
            lambda: post_form(client, "/oauth/token", {"grant_type": "refresh_token", "client_id": "web",
                                                       "refresh_token": "0" * 32 + "." + "a" * 43}),
        ):
            started = time.monotonic()
            response = await request()
            elapsed = time.monotonic() - started
            assert response.status_code == 503, await response.get_data(as_text=True)
            assert (await response.get_json())["error"] == "temporarily_unavailable"
            assert int(response.headers["Retry-After"]) > 0
            assert elapsed < TIMEOUT + 1.5, elapsed
        # what needs no database keeps working
        response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials"}, basic("service"))
        assert response.status_code == 200
        assert (await client.get("/readyz")).status_code == 503
