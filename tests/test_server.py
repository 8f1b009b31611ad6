"""The real thing: `idp serve` (Hypercorn) on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from idp.cli.main import main
from idp.settings import Settings
from tests.conftest import free_port, start_server, stop_server
from tests.helpers import PASSWORD


def test_full_flow_over_http(live_server: tuple[str, subprocess.Popen[str]]) -> None:
    base, _ = live_server
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


def test_sigterm_stops_the_server_cleanly(live_server: tuple[str, subprocess.Popen[str]]) -> None:
    _, process = live_server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0


def _workers(parent: int) -> list[int]:
    """The worker processes (multiprocessing spawn) whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_serve_runs_idp_workers_processes_sharing_one_key_and_stops_them_all(tmp_path: Path) -> None:
    # a database that does not answer: the workers still serve the JWKS, and no real one is needed
    base, process = start_server(tmp_path, {"IDP_WORKERS": "3", "IDP_MONGO_URI": "mongodb://127.0.0.1:1/"},
                                 ready_path="/healthz")
    try:
        deadline = time.monotonic() + 30
        while len(workers := _workers(process.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers) == 3
        # the key was made once, by the parent, before any worker started
        assert len(list((tmp_path / "keys").glob("*.pem"))) == 1
        kids = set()
        for _ in range(12):  # a new connection each time: the kernel spreads them over the workers
            kids |= {k["kid"] for k in httpx.get(f"{base}/.well-known/jwks.json").json()["keys"]}
        assert len(kids) == 1

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert _workers(process.pid) == [] and all(not Path(f"/proc/{pid}").exists() for pid in workers)
        log = (tmp_path / "server.log").read_text()
        lines = [line for line in log.splitlines() if line.strip()]
        assert all(line.startswith("{") for line in lines), log  # JSON lines, from every process
        assert sum('"Running on http' in line for line in lines) == 3
    finally:
        stop_server(process)


def test_memory_store_serves_with_one_worker_and_says_so(tmp_path: Path) -> None:
    base, process = start_server(tmp_path, {"IDP_WORKERS": "4", "IDP_MONGO_URI": "memory://"})
    try:
        assert len(_workers(process.pid)) == 1
        log = (tmp_path / "server.log").read_text()
        assert "ONE worker process" in log and "IDP_WORKERS=4" in log
    finally:
        stop_server(process)


def test_an_idle_keep_alive_connection_survives_six_seconds(
        live_server: tuple[str, subprocess.Popen[str]]) -> None:
    """Clients pool idle connections (httpx for 5 s); Hypercorn's default closed them after 5 s."""
    base, _ = live_server
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
    connection.request("GET", "/healthz")
    assert connection.getresponse().read() and connection.sock is not None
    local = connection.sock.getsockname()
    time.sleep(6)
    connection.request("GET", "/healthz")  # raises RemoteDisconnected if the server closed it
    assert connection.getresponse().status == 200
    assert connection.sock.getsockname() == local  # the same connection
    connection.close()


def test_a_port_in_use_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        env.update({"IDP_PORT": str(port), "IDP_KEYS_DIR": str(tmp_path / "keys")})
        result = subprocess.run([sys.executable, "-m", "idp.cli", "serve"], env=env, capture_output=True,
                                text=True, timeout=60, cwd=tmp_path)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if not line.startswith("{")]  # JSON: the log
    assert errors == [f"idp: cannot listen on 127.0.0.1:{port}: address already in use"], result.stderr
    assert "Traceback" not in result.stderr


def test_serve_help_lists_every_variable_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for name, default, _ in Settings.variables():
        line = next(line for line in text.splitlines() if line.strip().startswith(name + " "))
        assert f"(default: {default})" in line
    assert "IDP_KEEP_ALIVE_TIMEOUT" in text and "(default: 75)" in text
    assert "IDP_ISSUER" in text and "http://IDP_HOST:IDP_PORT" in text


async def test_races_over_real_http(live_server: tuple[str, subprocess.Popen[str]]) -> None:
    """The same races as in-process, through Hypercorn and real sockets."""
    import asyncio

    base, _ = live_server
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        same = {"name": "Race", "email": "race@example.com", "password": PASSWORD}
        statuses = [r.status_code for r in await asyncio.gather(*(http.post("/users", json=same) for _ in range(20)))]
        assert sorted(statuses) == [201] + [409] * 19

        form = {"grant_type": "password", "client_id": "web", "username": "race@example.com", "password": PASSWORD}
        tokens = (await http.post("/oauth/token", data=form)).json()
        again = {"grant_type": "refresh_token", "client_id": "web", "refresh_token": tokens["refresh_token"]}
        statuses = [r.status_code for r in await asyncio.gather(*(http.post("/oauth/token", data=again)
                                                                  for _ in range(20)))]
        assert sorted(statuses) == [200] + [400] * 19
