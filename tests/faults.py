"""What the fault tests share: a SecantusDB process of their own (so that they can pause,
kill and restart it), a latency proxy, and client loops that record every answer.

The suite's SecantusDB (scripts/test-mongo) is shared by every test and must not be
paused; these start their own on a free loopback port with a fresh data directory.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


def secantus_binary() -> str | None:
    """The SecantusDB binary that scripts/test-mongo names: the fault tests belong to the
    pass against a real wire-protocol server, once (never a build here: that takes
    minutes); None outside it."""
    named = os.environ.get("IDP_TEST_SECANTUS_BIN")
    return named if named and os.access(named, os.X_OK) else None


class Secantus:
    """One SecantusDB process on 127.0.0.1, started as scripts/secantus starts it
    (durable: every commit synced), which the test may pause, kill and start again on
    the same port and data directory."""

    def __init__(self, binary: str, data: Path) -> None:
        self.binary = binary
        self.data = data
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        data.mkdir(parents=True, exist_ok=True)
        (data / "secantusd.toml").write_text("")

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, within: float = 30.0) -> None:
        """Start it and wait until it accepts connections (the port may be held for a
        moment after a kill: try again until `within`)."""
        deadline = time.monotonic() + within
        while True:
            with open(self.data / "server.log", "ab") as log:
                self.process = subprocess.Popen(
                    [self.binary, "--config", str(self.data / "secantusd.toml"), "--host", "127.0.0.1",
                     "--port", str(self.port), "--storage-path", str(self.data / "db"), "--standalone",
                     "--sync-on-commit", "--log-level", "WARNING", "--cache-size", "256M"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            while time.monotonic() < deadline and self.process.poll() is None:
                if _accepts(self.port):
                    return
                time.sleep(0.05)
            if self.process.poll() is None or time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError("SecantusDB did not start: " + (self.data / "server.log").read_text()[-2000:])
            time.sleep(0.2)  # it exited (the port not free yet?): once more

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class LatencyProxy:
    """A TCP proxy on a loopback port of its own, in a thread of its own (so that the
    test's clients do not share its event loop), that holds every chunk the database
    sends back for `delay` seconds: each reply arrives late, none is lost or reordered,
    and the delays of replies on one connection do not add up."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.delay = 0.0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stopping: asyncio.Event
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the latency proxy did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self._started.set()
        await self._stopping.wait()
        server.close()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(self._pipe(client_reader, server_writer, delayed=False),
                                 self._pipe(server_reader, client_writer, delayed=True), return_exceptions=True)
        except asyncio.CancelledError:
            pass  # the proxy is closing: end quietly (asyncio logs a connection task that ends cancelled)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, delayed: bool) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(chunk)
                await writer.drain()

        forwarding = asyncio.create_task(forward())
        try:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + (self.delay if delayed else 0.0), chunk))
        finally:
            queue.put_nowait((0.0, b""))
            await asyncio.gather(forwarding, return_exceptions=True)
            writer.close()


@dataclass
class Answer:
    kind: str  # "refresh", "me", "jwks", ...
    status: int  # 0: no answer at all (the connection failed)
    started: float  # time.monotonic()
    seconds: float
    well_formed_503: bool = True
    retried: bool = False  # a refresh presenting a token whose last attempt got a 503


@dataclass
class Holder:
    """One client's newest tokens, as a client that keeps what it was last given."""

    refresh_token: str
    access_token: str
    ended: str | None = None  # why this client's login ended, if it did
    unanswered: int = 0  # refreshes of the current token answered 503 since its last 200
    answers: list[Answer] = field(default_factory=list)


async def timed(http: httpx.AsyncClient, kind: str, method: str, url: str, **kwargs: object) -> tuple[Answer, httpx.Response | None]:
    started = time.monotonic()
    try:
        response = await http.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.TransportError:
        return Answer(kind, 0, started, time.monotonic() - started), None
    answer = Answer(kind, response.status_code, started, time.monotonic() - started)
    if response.status_code == 503:
        answer.well_formed_503 = _well_formed_503(response)
    return answer, response


def _well_formed_503(response: httpx.Response) -> bool:
    try:
        body = response.json()
        retry_after = int(response.headers.get("Retry-After", "0"))
    except ValueError:
        return False
    return body.get("error") == "temporarily_unavailable" and bool(body.get("error_description")) and retry_after > 0


async def client_loop(base: str, holder: Holder, stop: asyncio.Event, pause: float = 0.05) -> None:
    """Refresh, then read /users/me with the newest access token, until told to stop.
    A refresh answered 503 is retried with the same token (the client cannot know
    whether the rotation happened); anything else but 200 ends the loop."""
    retrying = False
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while not stop.is_set():
            answer, response = await timed(http, "refresh", "POST", "/oauth/token", data={
                "grant_type": "refresh_token", "client_id": "web", "refresh_token": holder.refresh_token})
            answer.retried = retrying
            holder.answers.append(answer)
            if response is not None and response.status_code == 200:
                body = response.json()
                holder.refresh_token, holder.access_token = body["refresh_token"], body["access_token"]
                retrying, holder.unanswered = False, 0
            elif answer.status == 503:
                retrying = True
                holder.unanswered += 1
            else:
                holder.ended = f"refresh answered {answer.status}: {response.text if response is not None else ''}"
                return
            answer, response = await timed(http, "me", "GET", "/users/me",
                                           headers={"Authorization": f"Bearer {holder.access_token}"})
            holder.answers.append(answer)
            if answer.status not in (200, 503):
                holder.ended = f"/users/me answered {answer.status}: {response.text if response is not None else ''}"
                return
            await asyncio.sleep(pause)


async def sign_in(base: str, count: int, email: str = "fault@example.com") -> list[Holder]:
    """One account, `count` logins of it through the public client."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        password = "correct horse battery staple"
        created = await http.post("/users", json={"name": "Fay", "email": email, "password": password})
        assert created.status_code == 201, created.text
        holders = []
        for _ in range(count):
            response = await http.post("/oauth/token", data={
                "grant_type": "password", "client_id": "web", "username": email, "password": password})
            assert response.status_code == 200, response.text
            body = response.json()
            holders.append(Holder(body["refresh_token"], body["access_token"]))
        return holders


async def newest_tokens_work(base: str, holders: list[Holder]) -> list[str]:
    """What is wrong with each client's newest tokens at the end (nothing, if the list is empty)."""
    problems = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for number, holder in enumerate(holders):
            response = await http.post("/oauth/token", data={
                "grant_type": "refresh_token", "client_id": "web", "refresh_token": holder.refresh_token})
            if response.status_code != 200:
                problems.append(f"client {number}: newest refresh token answered {response.status_code} {response.text}")
                continue
            holder.refresh_token, holder.access_token = response.json()["refresh_token"], response.json()["access_token"]
            me = await http.get("/users/me", headers={"Authorization": f"Bearer {holder.access_token}"})
            if me.status_code != 200:
                problems.append(f"client {number}: /users/me answered {me.status_code}")
    return problems


def summary(answers: list[Answer], returned_at: float | None = None) -> dict[str, object]:
    """The figures of a fault: answers by kind and status, the longest, and the time
    from the database's return to the last answer that was not a 200."""
    by_status: dict[str, dict[int, int]] = {}
    for answer in answers:
        counts = by_status.setdefault(answer.kind, {})
        counts[answer.status] = counts.get(answer.status, 0) + 1
    figures: dict[str, object] = {
        "answers": len(answers),
        "by_status": {kind: dict(sorted(counts.items())) for kind, counts in sorted(by_status.items())},
        "longest": round(max((a.seconds for a in answers), default=0.0), 3),
    }
    if returned_at is not None:
        last_bad = max((a.started + a.seconds for a in answers if a.status != 200), default=returned_at)
        figures["full_service_after"] = round(max(0.0, last_bad - returned_at), 3)
    return figures


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def probe_loop(base: str, paths: tuple[str, ...], out: list[Answer], stop: asyncio.Event,
                     interval: float) -> None:
    """GET each path in turn, recording every answer, until told to stop."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while not stop.is_set():
            for path in paths:
                answer, _ = await timed(http, path, "GET", path)
                out.append(answer)
            await asyncio.sleep(interval)


QUICK_PATHS = ("/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/healthz")
