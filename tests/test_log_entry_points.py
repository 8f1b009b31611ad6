"""The app factory logs as `idp serve` does, whoever loads it: plain Hypercorn included."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from idp.app import create_app
from idp.ops.keys import KeyRing
from idp.settings import Settings
from tests.conftest import free_port, stop_server


def test_plain_hypercorn_with_two_workers_writes_json_and_access_logs(tmp_path: Path) -> None:
    KeyRing(tmp_path / "keys", 900).load()  # the first key, made once (`idp serve` does it in its parent)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    database_port = free_port()
    env.update({"IDP_KEYS_DIR": str(tmp_path / "keys"), "IDP_DB_TIMEOUT": "1", "IDP_TRUSTED_PROXIES": "127.0.0.1",  # no database needed
                "IDP_MONGO_URI": f"mongodb://operator:s3cret-pw@127.0.0.1:{database_port}/?authSource=admin"})
    with open(tmp_path / "server.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hypercorn", "idp.app:create_app()", "--workers", "2", "--bind",
             f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "plain-1"},
                             timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        time.sleep(0.5)  # the access line is written after the answer
        lines = [line for line in (tmp_path / "server.log").read_text().splitlines() if line.strip()]
    finally:
        stop_server(process)  # type: ignore[arg-type]

    ours = [json.loads(line) for line in lines if line.startswith("{")]
    theirs = [line for line in lines if not line.startswith("{")]
    # both workers configured the JSON logs: each says, in JSON, that the database is not there
    down = [entry["message"] for entry in ours if entry["message"].startswith("database not ready")]
    assert len(down) == 2, lines
    assert f"127.0.0.1:{database_port} did not answer" in down[0]  # where, never the password
    assert not any("s3cret-pw" in line for line in lines)
    access = [entry for entry in ours if entry["logger"] == "idp.access" and entry.get("request_id") == "plain-1"]
    assert access and access[0]["path"] == "/healthz" and access[0]["status"] == 200
    # Hypercorn's own two start lines keep its format, printed once each, not twice
    assert len(theirs) == 2 and all("Running on http://" in line for line in theirs), lines
    assert not any(entry["logger"] == "hypercorn.error" for entry in ours)


def test_the_factory_keeps_a_logging_set_up_already(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers = list(root.handlers)  # pytest's own
    assert handlers
    asyncio.run(create_app(Settings(keys_dir=tmp_path / "keys")).extensions["idp"].close())
    assert root.handlers == handlers
