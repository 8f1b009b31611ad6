"""An answer sent before the request's body arrived must not break the client's next
request on that connection: real `idp serve`, raw sockets."""

from __future__ import annotations

import socket
import subprocess
import time

_BODY = b"a=" + b"x" * 2000


def _headers(path: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(_BODY)}\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head.lower()


def _next_request_on(sock: socket.socket) -> bytes | str:
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        return sock.recv(65536)
    except OSError as exc:
        return type(exc).__name__


def test_an_answer_before_the_body_says_connection_close(
        live_server: tuple[str, subprocess.Popen[str]]) -> None:
    port = int(live_server[0].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_headers("/no-such-path"))  # the body is not sent yet
        head = _read_response(sock)
        assert head.startswith(b"http/1.1 404")
        # the server will not read what follows: it says so, and the client opens a new connection
        assert b"\r\nconnection: close" in head, head
        time.sleep(0.2)
        assert _next_request_on(sock) in (b"", "BrokenPipeError", "ConnectionResetError")


def test_a_complete_request_answered_early_keeps_its_connection(
        live_server: tuple[str, subprocess.Popen[str]]) -> None:
    port = int(live_server[0].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for path in ("/no-such-path", "/users/me"):  # a 404 and a 401 to POSTs, bodies sent whole
            sock.sendall(_headers(path) + _BODY)
            head = _read_response(sock)
            assert head.startswith((b"http/1.1 404", b"http/1.1 405", b"http/1.1 401")), head
            assert b"connection: close" not in head
        answer = _next_request_on(sock)
        assert isinstance(answer, bytes) and answer.startswith(b"HTTP/1.1 200"), answer
