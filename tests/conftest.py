"""Fixtures: every test gets its own app, its own database and its own keys folder.

The database is in memory (mongomock-motor) unless IDP_TEST_MONGO_URI names a real
MongoDB (or a wire-compatible server), in which case each test gets a fresh database
there, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from quart import Quart
from quart.typing import TestClientProtocol

from idp.accounts import passwords
from idp.app import create_app
from idp.settings import Settings
from idp.store.mongo import Database, close, connect

TEST_MONGO_URI = os.environ.get("IDP_TEST_MONGO_URI")

CLIENTS = [
    {"client_id": "web", "client_secret": None, "token_endpoint_auth_method": "none",
     "grant_types": ["password", "refresh_token"], "scope": "account profile"},
    {"client_id": "backend", "client_secret": "backend-secret-0123456789",
     "token_endpoint_auth_method": "client_secret_basic",
     "grant_types": ["password", "refresh_token", "client_credentials"], "scope": "account read write"},
    {"client_id": "poster", "client_secret": "poster-secret-0123456789",
     "token_endpoint_auth_method": "client_secret_post",
     "grant_types": ["password", "refresh_token", "client_credentials"], "scope": "account read"},
    {"client_id": "service", "client_secret": "service-secret-0123456789",
     "token_endpoint_auth_method": "client_secret_basic",
     "grant_types": ["client_credentials"], "scope": "read", "introspection": True},
]
SECRETS = {c["client_id"]: c["client_secret"] for c in CLIENTS}


class ManualClock:
    """A clock that only moves when told to; starts at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# argon2 at production cost (t=3, 64 MiB, p=4) costs ~0.1 s of two cores per hash: in
# fixtures that register and log people in that is most of the suite's time, and it
# tests nothing. Tests that measure hashing itself are marked `production_argon2`.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_argon2(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("production_argon2"):
        return
    monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", CHEAP_HASHER.hash("dummy"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clients_file(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The test clients; parametrize indirectly with a list to add clients of a test's own."""
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(CLIENTS + getattr(request, "param", [])))
    return path


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings for its tests."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, clients_file: Path, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "mongo_uri": TEST_MONGO_URI or "memory://",
        "mongo_db": f"idp_test_{uuid.uuid4().hex[:12]}",
        "keys_dir": tmp_path / "keys",
        "clients_file": clients_file,
    }
    values.update(settings_overrides)
    return Settings(**values)


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[Quart]:
    app = create_app(settings, clock=clock)
    async with app.test_app():
        yield app
        if TEST_MONGO_URI:
            await app.extensions["idp"].mongo_client.drop_database(settings.mongo_db)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """A database of the test's own, for tests of a store or a domain service without
    the app."""
    mongo, database = connect(settings.mongo_uri, settings.mongo_db)
    yield database
    await mongo.drop_database(settings.mongo_db)
    await close(mongo)


@pytest.fixture
def client(app: Quart) -> TestClientProtocol:
    return app.test_client()


@pytest.fixture
async def ann(client: TestClientProtocol) -> dict[str, Any]:
    """A registered user, as POST /users returned her."""
    from tests.helpers import register

    return await register(client)


@pytest.fixture
async def session(client: TestClientProtocol, ann: dict[str, Any]) -> dict[str, Any]:
    """The token response of ann's login through the public client."""
    from tests.helpers import login

    return await login(client)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp_path: Path, env_overrides: dict[str, str] | None = None,
                 ready_path: str = "/readyz") -> tuple[str, subprocess.Popen[str]]:
    """`idp serve` in a subprocess on a free loopback port, once ready_path answers 200;
    returns (base URL, process). Its output goes to tmp_path/server.log."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "clients.json").write_text(json.dumps(CLIENTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({
        "IDP_PORT": str(port), "IDP_ISSUER": base, "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_CLIENTS_FILE": str(tmp_path / "clients.json"),
        "IDP_MONGO_URI": TEST_MONGO_URI or "memory://", "IDP_MONGO_DB": f"idp_e2e_{uuid.uuid4().hex[:8]}",
        **(env_overrides or {}),
    })
    with open(tmp_path / "server.log", "w") as log:  # the child keeps its own descriptor
        # a session of its own, so that stop_server can end the workers with it
        process = subprocess.Popen([sys.executable, "-m", "idp.cli", "serve"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}{ready_path}", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        stop_server(process)
        pytest.fail("server did not become ready: " + (tmp_path / "server.log").read_text())
    return base, process


def stop_server(process: subprocess.Popen[str]) -> None:
    """Kill the server and its worker processes (its process group), if any is left."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`idp serve` in a subprocess on a free loopback port; yields (base URL, process)."""
    base, process = start_server(tmp_path)
    yield base, process
    stop_server(process)
