"""The metrics listener holds a bounded number of connections and lets idle ones go."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry

from idp.ops import metrics


def test_idle_connections_are_bounded_and_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "IDLE_SECONDS", 1.0)
    server = metrics.serve(("127.0.0.1", 0), CollectorRegistry())
    host, port = "127.0.0.1", int(server.server_address[1])
    before = threading.active_count()
    idle = [socket.create_connection((host, port)) for _ in range(30)]
    try:
        time.sleep(0.3)
        # a thread for each held connection, at most MAX_CONNECTIONS, not one per socket
        assert threading.active_count() - before <= metrics.MAX_CONNECTIONS
        # each idle connection is closed by the server: EOF within the idle bound
        started = time.monotonic()
        for sock in idle:
            sock.settimeout(5)
            assert sock.recv(1) == b""
        assert time.monotonic() - started < 3
        deadline = time.monotonic() + 3
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() == before
        assert httpx.get(f"http://{host}:{port}/metrics").status_code == 200  # serving still
    finally:
        for sock in idle:
            sock.close()
        server.shutdown()
        server.server_close()
