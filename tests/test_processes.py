"""`idp serve`'s worker processes under fire: a worker killed, workers that keep dying,
SIGTERM and SIGHUP while clients keep connecting. Real processes, real sockets."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, start_server, stop_server

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")

# A database that does not answer: the workers still serve what needs none (JWKS,
# health), and a token request waits IDP_DB_TIMEOUT before its 503: a slow request.
_NO_DATABASE = {"IDP_MONGO_URI": "mongodb://127.0.0.1:1/", "IDP_DB_TIMEOUT": "1"}


def _log_lines(tmp_path: Path) -> list[dict[str, object]]:
    lines = (tmp_path / "server.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _started_workers(tmp_path: Path) -> list[int]:
    """The pids of the workers the parent said it started, in order."""
    found = []
    for entry in _log_lines(tmp_path):
        match = re.fullmatch(r"worker \d+ started \(pid (\d+)\)", str(entry["message"]))
        if match:
            found.append(int(match.group(1)))
    return found


def _wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ask(port: int, request: bytes) -> str:
    """One request on a new connection: "answered", "refused" (nobody listening), or what
    went wrong after the kernel accepted the connection (a reset, or no answer)."""
    with socket.socket() as sock:
        sock.settimeout(20)
        try:
            sock.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return "refused"
        try:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError as exc:
            return type(exc).__name__
    return "answered" if answer.startswith(b"HTTP/1.1 ") else f"unanswered {answer[:40]!r}"


_QUICK = b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
_BODY = b"grant_type=password&client_id=web&username=ann%40example.com&password=wrong"
_SLOW = (b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         b"Content-Type: application/x-www-form-urlencoded\r\n"
         b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY)


@contextmanager
def _load(port: int, clients: int = 6) -> Iterator[Counter[str]]:
    """Clients that connect again and again (one in three a slow request) until the block
    ends; yields the outcomes, counted."""
    outcomes: Counter[str] = Counter()
    done = threading.Event()

    def loop(index: int) -> None:
        while not done.is_set():
            outcome = _ask(port, _SLOW if index % 3 == 0 else _QUICK)
            outcomes[outcome] += 1
            if outcome == "refused":
                time.sleep(0.02)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield outcomes
    finally:
        done.set()
        for thread in threads:
            thread.join(30)


def _serve(tmp_path: Path, workers: int, **env: str) -> tuple[str, subprocess.Popen[str], int]:
    base, process = start_server(tmp_path, {"IDP_WORKERS": str(workers), **_NO_DATABASE, **env},
                                 ready_path="/healthz")
    try:
        _wait_for(lambda: len(_started_workers(tmp_path)) >= workers
                  and sum(str(e["message"]).startswith("Running on") for e in _log_lines(tmp_path)) >= workers)
    except BaseException:
        stop_server(process)  # nothing else would: the test's own cleanup has not begun
        raise
    return base, process, int(base.rsplit(":", 1)[1])


def test_a_killed_worker_is_replaced_said_and_counted_while_service_goes_on(tmp_path: Path) -> None:
    metrics = f"127.0.0.1:{free_port()}"
    base, process, port = _serve(tmp_path, 2, IDP_METRICS_ADDR=metrics)
    try:
        first, second = _started_workers(tmp_path)
        with _load(port) as outcomes:
            time.sleep(0.5)
            os.kill(first, signal.SIGKILL)
            _wait_for(lambda: len(_started_workers(tmp_path)) == 3)
            before = outcomes["answered"]
            time.sleep(1.0)
            assert outcomes["answered"] > before  # the other worker served meanwhile
        assert process.poll() is None
        assert outcomes["refused"] == 0, outcomes
        # only what the killed worker held when it died may be lost
        assert sum(n for outcome, n in outcomes.items() if outcome != "answered") <= 6, outcomes
        replacement = _started_workers(tmp_path)[2]
        assert _alive(second) and _alive(replacement) and not _alive(first)
        died = [e for e in _log_lines(tmp_path) if "exit_status" in e]
        assert len(died) == 1 and died[0]["pid"] == first and died[0]["level"] == "error"
        assert "killed by SIGKILL" in str(died[0]["message"]) and died[0]["exit_status"] == -9
        scrape = httpx.get(f"http://{metrics}/metrics").text
        assert "idp_worker_restarts_total 1.0" in scrape
        # the replacement serves: enough new connections reach every worker
        _wait_for(lambda: sum(str(e["message"]).startswith("Running on") for e in _log_lines(tmp_path)) == 3)
        assert all(httpx.get(f"{base}/healthz").status_code == 200 for _ in range(10))
    finally:
        stop_server(process)


def test_workers_that_keep_dying_stop_the_server_with_a_non_zero_status(tmp_path: Path) -> None:
    _, process, _ = _serve(tmp_path, 1)
    try:
        killed: set[int] = set()
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            for pid in set(_started_workers(tmp_path)) - killed:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            time.sleep(0.05)
        assert process.wait(timeout=5) == 1
        assert len(killed) == 5
        assert any("keep dying" in str(e["message"]) for e in _log_lines(tmp_path))
    finally:
        stop_server(process)


def test_sigterm_mid_load_answers_every_accepted_connection_refuses_later_ones_and_exits_0(
        tmp_path: Path) -> None:
    _, process, port = _serve(tmp_path, 2)
    try:
        with _load(port) as outcomes:
            time.sleep(1.5)  # slow requests in flight in both workers
            answered_before = outcomes["answered"]
            process.send_signal(signal.SIGTERM)
            status = process.wait(timeout=30)
            time.sleep(0.3)
    finally:
        stop_server(process)
    assert status == 0
    workers = _started_workers(tmp_path)
    assert not any(_alive(pid) for pid in workers)
    assert answered_before > 0 and outcomes["refused"] > 0
    # every connection the kernel accepted got its answer: nothing reset, nothing unanswered
    assert set(outcomes) == {"answered", "refused"}, outcomes
    # after the signal the port is closed: no server holds it any more
    with socket.socket() as sock:
        with pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", port))


def test_sighup_replaces_every_worker_without_dropping_a_connection(tmp_path: Path) -> None:
    _, process, port = _serve(tmp_path, 2)
    try:
        old = _started_workers(tmp_path)
        with _load(port) as outcomes:
            time.sleep(1.0)
            process.send_signal(signal.SIGHUP)
            _wait_for(lambda: len(_started_workers(tmp_path)) == 4 and not any(_alive(p) for p in old))
            time.sleep(1.0)
        assert set(outcomes) == {"answered"}, outcomes
        assert process.poll() is None
        assert all(_alive(pid) for pid in _started_workers(tmp_path)[2:])
        assert not [e for e in _log_lines(tmp_path) if "exit_status" in e]
    finally:
        stop_server(process)
