"""The real thing: `idp serve` (Hypercorn) on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import CLIENTS, TEST_MONGO_URI
from tests.helpers import PASSWORD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "clients.json").write_text(json.dumps(CLIENTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update({
        "IDP_PORT": str(port), "IDP_ISSUER": base, "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_CLIENTS_FILE": str(tmp_path / "clients.json"),
        "IDP_MONGO_URI": TEST_MONGO_URI or "memory://", "IDP_MONGO_DB": f"idp_e2e_{uuid.uuid4().hex[:8]}",
    })
    log = open(tmp_path / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "idp.cli", "serve"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("server did not become ready: " + (tmp_path / "server.log").read_text())
    yield base, process
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()


def test_full_flow_over_http(server: tuple[str, subprocess.Popen[str]]) -> None:
    base, _ = server
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.post("/users", json={"name": "Eve", "email": "eve@example.com",
                                         "password": PASSWORD}).status_code == 201
        login = http.post("/oauth/token", data={"grant_type": "password", "client_id": "web",
                                                "username": "eve@example.com", "password": PASSWORD})
        assert login.status_code == 200
        tokens = login.json()

        # a resource server verifies with nothing but the published JWKS
        jwks = jwt.PyJWKClient(f"{base}/.well-known/jwks.json")
        key = jwks.get_signing_key_from_jwt(tokens["access_token"])
        claims = jwt.decode(tokens["access_token"], key.key, algorithms=["RS256"], audience=base, issuer=base)
        assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"

        refreshed = http.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": "web",
                                                    "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200
        new = refreshed.json()

        rs = ("service", "service-secret-0123456789")
        active = http.post("/oauth/introspect", data={"token": new["access_token"]}, auth=rs).json()
        assert active["active"] is True and active["sub"] == claims["sub"]

        assert http.post("/oauth/revoke", data={"token": new["refresh_token"], "client_id": "web"}).status_code == 200
        assert http.post("/oauth/introspect", data={"token": new["access_token"]}, auth=rs).json() == {"active": False}
        me = http.get("/users/me", headers={"Authorization": f"Bearer {new['access_token']}"})
        assert me.status_code == 401


def test_sigterm_stops_the_server_cleanly(server: tuple[str, subprocess.Popen[str]]) -> None:
    _, process = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
