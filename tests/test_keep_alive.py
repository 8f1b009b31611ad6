"""IDP_KEEP_ALIVE_TIMEOUT is what `idp serve` keeps an idle connection open for."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.conftest import start_server, stop_server


def test_idp_serve_closes_an_idle_connection_after_idp_keep_alive_timeout(tmp_path: Path) -> None:
    base, process = start_server(tmp_path, {"IDP_KEEP_ALIVE_TIMEOUT": "2"})
    try:
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while b"\r\n\r\n{" not in answer or not answer.rstrip().endswith(b"}"):  # headers, then the body
                chunk = sock.recv(65536)
                assert chunk, answer
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")
            idle_from = time.monotonic()
            assert sock.recv(1) == b""  # the server closes it ...
            waited = time.monotonic() - idle_from
        assert 1.5 < waited < 5, waited  # ... after the configured 2 s, not Hypercorn's 5 nor the default 75
    finally:
        stop_server(process)
