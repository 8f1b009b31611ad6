"""Faults done to real processes: a paused database, a killed one, a slow one, and two
servers on one database.

Each test runs `idp serve` against a SecantusDB process of its own and does the fault to
that process (SIGSTOP/SIGCONT, SIGKILL and a restart on the same files, a proxy that
delays every reply) while client loops refresh tokens and read /users/me. What they
hold the server to: during the fault only 200s and well-formed 503s with Retry-After,
each within IDP_DB_TIMEOUT; full service within seconds of the database's return,
without a restart; every client's newest refresh token still works at the end (a
client whose answer was lost retries within IDP_REFRESH_REUSE_GRACE); no login ended
and no `refresh.reused` logged. The figures of each run are printed (pytest -s).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, start_server, stop_server
from tests.faults import (
    QUICK_PATHS, Answer, Holder, LatencyProxy, Secantus, client_loop, newest_tokens_work, percentile, probe_loop,
    secantus_binary, sign_in, summary,
)

BINARY = secantus_binary()

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(BINARY is None, reason="the fault tests run in scripts/test-mongo's pass (IDP_TEST_SECANTUS_BIN "
                                              "names the SecantusDB binary): they need a database process of "
                                              "their own to pause and kill"),
]

DB_TIMEOUT = 2
MARGIN = 1.5  # what a loaded two-core machine adds to an answer beyond the server's deadline
GRACE = 30
LOOPS = 6
FULL_SERVICE_WITHIN = 5.0


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Secantus]:
    assert BINARY is not None
    db = Secantus(BINARY, tmp_path / "secantus")
    db.start()
    yield db
    db.stop()


def serve(tmp_path: Path, uri: str, **env: str) -> tuple[str, subprocess.Popen[str]]:
    return start_server(tmp_path, {"IDP_MONGO_URI": uri, "IDP_DB_TIMEOUT": str(DB_TIMEOUT),
                                   "IDP_REFRESH_REUSE_GRACE": str(GRACE), "IDP_WORKERS": "2", **env})


def server_log(tmp_path: Path) -> str:
    return (tmp_path / "server.log").read_text()


def no_theft_logged(log: str) -> bool:
    """No `refresh.reused` among the audit events of a log that has them (the logins)."""
    assert "login.succeeded" in log, "the server's log holds no audit events: the check would prove nothing"
    return "refresh.reused" not in log


def check_promises(answers: list[Answer], holders: list[Holder], log: str) -> None:
    ended = [h.ended for h in holders if h.ended]
    assert not ended, f"logins ended by the fault: {ended}"
    bad = [a for a in answers if a.status not in (200, 503)]
    assert not bad, f"answers other than 200 and 503: {bad[:5]}"
    malformed = [a for a in answers if a.status == 503 and a.kind != "/readyz" and not a.well_formed_503]
    assert not malformed, f"503s without error=temporarily_unavailable and Retry-After: {malformed[:5]}"
    late = [a for a in answers if a.seconds > DB_TIMEOUT + MARGIN]
    assert not late, f"answers later than IDP_DB_TIMEOUT={DB_TIMEOUT} (+{MARGIN}): {late[:5]}"
    assert no_theft_logged(log), "a retry after an outage was logged as refresh.reused"


@dataclass
class Run:
    """What a fault under load left: the clients, the probes' answers, when the fault
    began and when the database was back."""

    holders: list[Holder]
    probes: list[Answer]
    began: float
    returned_at: float

    @property
    def answers(self) -> list[Answer]:
        return [a for h in self.holders for a in h.answers]


async def under_load(base: str, fault: Callable[[], Awaitable[float]], settle: float = 4.0) -> Run:
    """Sign in LOOPS clients, run their loops (and probes of the answers that need no
    database, and of readiness), do `fault` (returning the time the database was back),
    keep the load `settle` s more."""
    holders = await sign_in(base, LOOPS)
    stop = asyncio.Event()
    probes: list[Answer] = []
    tasks = [asyncio.create_task(client_loop(base, holder, stop)) for holder in holders]
    tasks.append(asyncio.create_task(probe_loop(base, QUICK_PATHS, probes, stop, 0.05)))
    tasks.append(asyncio.create_task(probe_loop(base, ("/readyz",), probes, stop, 0.25)))
    await asyncio.sleep(1.5)
    began = time.monotonic()
    returned_at = await fault()
    await asyncio.sleep(settle)
    stop.set()
    await asyncio.gather(*tasks)
    return Run(holders, probes, began, returned_at)


def report(name: str, run: Run) -> dict[str, object]:
    """The figures of the fault (from its start on), printed for the record."""
    answers = run.answers + run.probes
    figures = summary([a for a in answers if a.started + a.seconds >= run.began], run.returned_at)
    quick = [a.seconds for a in run.probes if a.kind in QUICK_PATHS and a.started + a.seconds >= run.began]
    figures["p99_well_known_and_healthz"] = round(percentile(quick, 0.99), 4)
    figures["retried_refreshes"] = sum(1 for a in answers if a.kind == "refresh" and a.retried)
    figures["retries_answered_200"] = sum(1 for a in answers if a.kind == "refresh" and a.retried and a.status == 200)
    print(f"\n{name}: {json.dumps(figures)}", file=sys.stderr)
    return figures


async def fault_under_load(tmp_path: Path, database: Secantus, name: str,
                           fault: Callable[[], Awaitable[float]], settle: float) -> None:
    """The promises of an outage, whatever the fault: only 200s and well-formed 503s,
    each in time; the answers that need no database fast throughout; full service
    (readiness included) within seconds of the database's return, without a restart;
    every 503 counted as a database error; every client's newest tokens working at the
    end; no login ended and no `refresh.reused` logged."""
    metrics = f"127.0.0.1:{free_port()}"
    base, server = serve(tmp_path, database.uri, IDP_METRICS_ADDR=metrics)
    try:
        run = await under_load(base, fault, settle)
        figures = report(name, run)
        check_promises(run.answers + run.probes, run.holders, server_log(tmp_path))
        assert any(a.status == 503 for a in run.answers), "the fault was not felt: the test tests nothing"
        assert any(a.status == 503 for a in run.probes if a.kind == "/readyz"), "readiness did not see the fault"
        assert all(a.status == 200 for a in run.probes if a.kind in QUICK_PATHS), figures
        assert figures["p99_well_known_and_healthz"] < 0.1, figures  # type: ignore[operator]
        assert figures["full_service_after"] < FULL_SERVICE_WITHIN, figures  # type: ignore[operator]
        unavailable = sum(1 for a in run.answers if a.status == 503)
        assert scrape(metrics)[("idp_database_errors_total", ())] == unavailable, figures
        assert await newest_tokens_work(base, run.holders) == []
    finally:
        stop_server(server)


async def test_a_paused_database_gives_503s_in_time_and_service_resumes_without_a_restart(
        tmp_path: Path, database: Secantus) -> None:
    async def pause() -> float:
        database.signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(8)
        finally:
            database.signal(signal.SIGCONT)
        return time.monotonic()

    await fault_under_load(tmp_path, database, "database paused 8 s", pause, settle=4.0)


async def test_a_killed_and_restarted_database_gives_503s_in_time_and_service_resumes(
        tmp_path: Path, database: Secantus) -> None:
    async def kill_and_restart() -> float:
        database.kill()
        await asyncio.sleep(3)
        await asyncio.to_thread(database.start)
        return time.monotonic()

    await fault_under_load(tmp_path, database, "database killed, restarted after 3 s", kill_and_restart, settle=6.0)


SLOW_TIMEOUT = 3  # the default, as in production


async def slowed(base: str, holders: list[Holder], proxy: LatencyProxy, delay: float,
                 seconds: float) -> tuple[list[Answer], list[Answer]]:
    """Run the client loops and the probes for `seconds` with every database reply
    `delay` s late; returns (the clients' answers, the probes' answers)."""
    for holder in holders:
        holder.answers = []
    proxy.delay = delay
    stop = asyncio.Event()
    probes: list[Answer] = []
    tasks = [asyncio.create_task(client_loop(base, holder, stop)) for holder in holders]
    tasks.append(asyncio.create_task(probe_loop(base, QUICK_PATHS, probes, stop, 0.02)))
    tasks.append(asyncio.create_task(probe_loop(base, ("/readyz",), probes, stop, 0.5)))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    proxy.delay = 0.0
    return [a for h in holders for a in h.answers], probes


def slow_figures(name: str, clients: list[Answer], probes: list[Answer]) -> dict[str, object]:
    figures = summary(clients + probes)
    figures["p99_well_known_and_healthz"] = round(percentile([a.seconds for a in probes if a.kind in QUICK_PATHS],
                                                             0.99), 4)
    figures["longest_users_me"] = round(max((a.seconds for a in clients if a.kind == "me"), default=0.0), 3)
    print(f"\n{name}: {json.dumps(figures)}", file=sys.stderr)
    return figures


async def test_a_slow_database_slows_nothing_that_does_not_need_it(tmp_path: Path, database: Secantus) -> None:
    """0.4 s per reply: account and token requests are slowed and served. 1.5 s per reply
    (two round trips no longer fit in IDP_DB_TIMEOUT): they answer 503 in time, never
    after the driver's own timeouts. Throughout, the answers that need no database stay
    fast, and every 503 is counted as a database error."""
    metrics = f"127.0.0.1:{free_port()}"
    with LatencyProxy(database.port) as proxy:
        base, server = serve(tmp_path, proxy.uri, IDP_DB_TIMEOUT=str(SLOW_TIMEOUT), IDP_METRICS_ADDR=metrics)
        try:
            holders = await sign_in(base, LOOPS)
            unavailable = 0
            for delay, seconds in ((0.4, 5), (1.5, 10)):
                clients, probes = await slowed(base, holders, proxy, delay, seconds)
                figures = slow_figures(f"database slowed {delay} s per reply", clients, probes)
                assert all(a.status == 200 for a in probes if a.kind in QUICK_PATHS), figures
                assert figures["p99_well_known_and_healthz"] < 0.1, figures  # type: ignore[operator]
                ended = [h.ended for h in holders if h.ended]
                assert not ended, ended
                assert all(a.status in (200, 503) for a in clients), figures
                assert all(a.seconds <= SLOW_TIMEOUT + MARGIN for a in clients), figures
                me = [a for a in clients if a.kind == "me"]
                assert any(a.seconds > 2 * delay for a in me), "the proxy slowed nothing: the test tests nothing"
                if delay < 1:
                    assert any(a.status == 200 for a in me), figures
                unavailable += sum(1 for a in clients if a.status == 503)

            # every 503 of the app is counted once as a database error
            assert scrape(metrics)[("idp_database_errors_total", ())] == unavailable
            # Once the database is quick again, every client's newest token works, but for
            # one case: a rotation applied with its answer lost (the reply came after the
            # deadline), retried within the grace period, and that retry's answer lost too.
            # The token the client holds is then two generations old, which is reuse: the
            # login ends. Only a client with two or more unanswered refreshes of its token
            # can be in that case, and each such ending is the one refresh.reused logged.
            problems = await newest_tokens_work(base, holders)
            twice_lost = [h for h in holders if h.unanswered >= 2]
            assert len(problems) <= len(twice_lost), (problems, [h.unanswered for h in holders])
            assert all("already used" in problem for problem in problems), problems
            log = server_log(tmp_path)
            assert no_theft_logged(log) or log.count('"event": "refresh.reused"') == len(problems), problems
            print(f"logins ended by two lost answers in a row: {len(problems)}", file=sys.stderr)
        finally:
            stop_server(server)


def scrape(address: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the metrics listener, by (name, sorted labels)."""
    response = httpx.get(f"http://{address}/metrics", timeout=10)
    assert response.status_code == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def introspect(base: str, token: str) -> dict[str, object]:
    response = httpx.post(f"{base}/oauth/introspect", data={"token": token},
                          auth=("backend", "backend-secret-0123456789"), timeout=10)
    assert response.status_code == 200, response.text
    result: dict[str, object] = response.json()
    return result


def me_status(base: str, access_token: str) -> int:
    return httpx.get(f"{base}/users/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=10).status_code


def test_two_servers_on_one_database_behave_as_one(tmp_path: Path, database: Secantus) -> None:
    keys, name = tmp_path / "keys", "idp_two_hosts"
    # what several hosts share: the database, the keys folder and the issuer (the one URL
    # clients know, a load balancer's); each has its own port, log and metrics
    shared = {"IDP_KEYS_DIR": str(keys), "IDP_MONGO_DB": name, "IDP_WORKERS": "1",
              "IDP_ISSUER": "https://id.example.test"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, server_a = serve(tmp_path / "a", database.uri, **shared)
    try:
        b, server_b = serve(tmp_path / "b", database.uri, **shared)
        try:
            password = "correct horse battery staple"
            assert httpx.post(f"{a}/users", json={"name": "Hal", "email": "hal@example.com",
                                                 "password": password}).status_code == 201
            issued = httpx.post(f"{a}/oauth/token", data={"grant_type": "password", "username": "hal@example.com",
                                                          "password": password},
                                auth=("backend", "backend-secret-0123456789"), timeout=10)
            assert issued.status_code == 200, issued.text
            first = issued.json()
            assert introspect(a, first["access_token"]) == introspect(b, first["access_token"])
            assert introspect(b, first["refresh_token"])["active"] is True

            # refreshed on B: the new pair works on both, the old refresh token on neither
            refreshed = httpx.post(f"{b}/oauth/token", data={"grant_type": "refresh_token",
                                                             "refresh_token": first["refresh_token"]},
                                   auth=("backend", "backend-secret-0123456789"), timeout=10)
            assert refreshed.status_code == 200, refreshed.text
            second = refreshed.json()
            for host in (a, b):
                assert introspect(host, second["refresh_token"])["active"] is True
                assert introspect(host, first["refresh_token"]) == {"active": False}
                assert me_status(host, second["access_token"]) == 200
            assert introspect(a, second["refresh_token"]) == introspect(b, second["refresh_token"])

            # revoked on A: ended on both
            revoked = httpx.post(f"{a}/oauth/revoke", data={"token": second["refresh_token"]},
                                 auth=("backend", "backend-secret-0123456789"), timeout=10)
            assert revoked.status_code == 200
            for host in (a, b):
                assert introspect(host, second["refresh_token"]) == {"active": False}
                assert introspect(host, second["access_token"]) == {"active": False}
                assert me_status(host, second["access_token"]) == 401
            again = httpx.post(f"{b}/oauth/token", data={"grant_type": "refresh_token",
                                                         "refresh_token": second["refresh_token"]},
                               auth=("backend", "backend-secret-0123456789"), timeout=10)
            assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

            # a key rotated by one host (the command, as an operator runs it) is published by
            # both at once, while both still sign with the key they had
            before = httpx.get(f"{a}/.well-known/jwks.json").json()
            signing = jwt.get_unverified_header(first["access_token"])["kid"]
            env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
            env.update({"IDP_KEYS_DIR": str(keys), "IDP_MONGO_URI": database.uri, "IDP_MONGO_DB": name})
            rotated = subprocess.run([sys.executable, "-m", "idp.cli", "keys", "rotate"], env=env,
                                     capture_output=True, text=True, timeout=60)
            assert rotated.returncode == 0, rotated.stderr
            kids = {k["kid"] for k in before["keys"]}
            for host in (a, b):
                published = {k["kid"] for k in httpx.get(f"{host}/.well-known/jwks.json").json()["keys"]}
                assert kids < published, (host, kids, published)
                token = httpx.post(f"{host}/oauth/token", data={"grant_type": "client_credentials"},
                                   auth=("service", "service-secret-0123456789"), timeout=10).json()["access_token"]
                assert jwt.get_unverified_header(token)["kid"] == signing
        finally:
            stop_server(server_b)
    finally:
        stop_server(server_a)


async def test_a_refresh_whose_client_hung_up_can_be_retried(tmp_path: Path, database: Secantus) -> None:
    """The answer lost on the way: a client sends a refresh and hangs up before the answer,
    at moments spread over the request's life. Its retry with the same token gets a new
    pair (the rotation did not happen, or it did and the grace period lets its client
    retry), and no hang-up ends the login or is logged as theft."""
    base, server = serve(tmp_path, database.uri, IDP_WORKERS="1")
    try:
        [holder] = await sign_in(base, 1)
        port = int(base.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for attempt in range(12):
                body = f"grant_type=refresh_token&client_id=web&refresh_token={holder.refresh_token}".encode()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Content-Type: application/x-www-form-urlencoded\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                await asyncio.sleep(attempt * 0.004)  # 0 to 44 ms: before, during and after the rotation
                writer.transport.abort()  # a reset, as a phone losing its network
                response = await http.post("/oauth/token", data={
                    "grant_type": "refresh_token", "client_id": "web", "refresh_token": holder.refresh_token})
                assert response.status_code == 200, (attempt, response.text)
                holder.refresh_token = response.json()["refresh_token"]
                holder.access_token = response.json()["access_token"]
        assert await newest_tokens_work(base, [holder]) == []
        assert no_theft_logged(server_log(tmp_path))
    finally:
        stop_server(server)
