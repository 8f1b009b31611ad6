"""Prometheus metrics on IDP_METRICS_ADDR: the text format, the series moving, and `idp serve`'s
workers summed by the parent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.app import create_app
from idp.settings import ConfigError, Settings
from tests.conftest import free_port, start_server, stop_server
from tests.helpers import PASSWORD, bearer, login, password_grant, refresh, register
from tests.test_server import _workers

METRICS_PORT = free_port()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"metrics_addr": f"127.0.0.1:{METRICS_PORT}"}


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics answer, by (name, sorted labels)."""
    response = httpx.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


async def test_the_listener_serves_the_text_format_and_nothing_else(app: Quart, client: Client) -> None:
    await client.get("/healthz")
    samples = _scrape(f"http://127.0.0.1:{METRICS_PORT}")
    assert samples[("idp_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))] >= 1
    assert ("idp_http_request_duration_seconds_bucket",
            (("le", "+Inf"), ("method", "GET"), ("route", "/healthz"))) in samples
    assert httpx.get(f"http://127.0.0.1:{METRICS_PORT}/", timeout=10).status_code == 404
    # and never through the app's own port
    assert (await client.get("/metrics")).status_code == 404


async def test_logins_reuse_throttling_and_hashing_move_their_counters(client: Client) -> None:
    before = {name: _value_of(*key) for name, key in _SERIES.items()}
    await register(client)
    await password_grant(client, password="a wrong password entirely")
    first = await login(client)
    await refresh(client, first["refresh_token"])
    assert (await refresh(client, first["refresh_token"])).status_code == 400  # reuse
    after = {name: _value_of(*key) for name, key in _SERIES.items()}
    moved = {name: after[name] - before[name] for name in _SERIES}
    assert moved == {"succeeded": 1, "failed": 1, "throttled": 0, "reuse": 1, "hashes": 3,
                     "token_200": 2, "token_400": 2}  # the wrong password and the reuse
    assert _value("idp_password_hash_queue") == 0  # nothing waits once the requests are answered


_SERIES: dict[str, tuple[Any, ...]] = {
    "succeeded": ("idp_logins_total", "outcome", "succeeded"),
    "failed": ("idp_logins_total", "outcome", "failed"),
    "throttled": ("idp_logins_total", "outcome", "throttled"),
    "reuse": ("idp_refresh_token_reuse_total",),
    "hashes": ("idp_password_hash_seconds_count",),  # registration, the wrong and the right password
    "token_200": ("idp_http_requests_total", "route", "/oauth/token", "method", "POST", "status", "200"),
    "token_400": ("idp_http_requests_total", "route", "/oauth/token", "method", "POST", "status", "400"),
}


def _value_of(name: str, *pairs: str) -> float:
    """The table above's rows: a name, then label, value, label, value, ..."""
    return _value(name, **dict(zip(pairs[::2], pairs[1::2])))


async def test_throttled_attempts_count_by_limit(client: Client, ann: dict[str, Any],
                                                 settings: Settings) -> None:
    email_before = _value("idp_throttled_attempts_total", limit="email")
    throttled_before = _value("idp_logins_total", outcome="throttled")
    for _ in range(settings.login_max_failures + 2):
        await password_grant(client, password="a wrong password entirely")
    assert _value("idp_throttled_attempts_total", limit="email") - email_before == 2
    assert _value("idp_logins_total", outcome="throttled") - throttled_before == 2


async def test_routes_are_url_rules_never_raw_paths(client: Client, session: dict[str, Any]) -> None:
    before = _value("idp_http_requests_total", route="unmatched", method="GET", status="404")
    for n in range(3):
        assert (await client.get(f"/no/such/path/{n}")).status_code == 404
    assert _value("idp_http_requests_total", route="unmatched", method="GET", status="404") - before == 3
    assert (await client.get("/users/me", headers=bearer(session["access_token"]))).status_code == 200
    assert _value("idp_http_requests_total", route="/users/me", method="GET", status="200") >= 1
    paths = {s.labels.get("route") for f in REGISTRY.collect() for s in f.samples if "route" in s.labels}
    assert not any(path.startswith("/no/such") for path in paths)


async def test_a_made_up_method_is_counted_as_other_never_as_itself(client: Client) -> None:
    def other() -> float:
        return sum(s.value for f in REGISTRY.collect() for s in f.samples
                   if s.name == "idp_http_requests_total" and s.labels.get("method") == "other")

    odd = "X" * 14_000
    before = other()
    assert (await client.open("/healthz", method=odd)).status_code in (404, 405)
    assert other() - before == 1
    methods = {s.labels.get("method") for f in REGISTRY.collect() for s in f.samples if "method" in s.labels}
    assert odd not in methods


async def test_database_errors_are_counted(tmp_path: Path, clients_file: Path) -> None:
    settings = Settings(mongo_uri=f"mongodb://127.0.0.1:{free_port()}/", mongo_db="idp_down",
                        keys_dir=tmp_path / "keys", clients_file=clients_file, db_timeout=1)
    app = create_app(settings)
    before = _value("idp_database_errors_total")
    async with app.test_app():
        response = await app.test_client().post("/users", json={"name": "Ann", "email": "ann@example.com",
                                                                 "password": PASSWORD})
    assert response.status_code == 503
    assert _value("idp_database_errors_total") - before == 1


def test_the_metrics_address_is_host_and_port() -> None:
    assert Settings(metrics_addr="127.0.0.1:9100").metrics_address == ("127.0.0.1", 9100)
    assert Settings(metrics_addr="[::1]:9100").metrics_address == ("::1", 9100)
    assert Settings().metrics_address is None
    for bad in ("9100", "127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000", ":9100"):
        with pytest.raises(ConfigError, match="IDP_METRICS_ADDR"):
            Settings(metrics_addr=bad)


def _multiproc_dir(pid: int) -> Path:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return Path(next(v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")).decode().split("=", 1)[1])


def _healthz_count(files: list[str]) -> float:
    for metric in MultiProcessCollector.merge(files, accumulate=True):
        for sample in metric.samples:
            if sample.name == "idp_http_requests_total" and sample.labels.get("route") == "/healthz":
                return sample.value
    return 0.0


def test_idp_serve_sums_its_workers_on_one_listener(tmp_path: Path) -> None:
    metrics = f"http://127.0.0.1:{free_port()}"
    env = {"IDP_WORKERS": "2", "IDP_MONGO_URI": f"mongodb://127.0.0.1:{free_port()}/", "IDP_DB_TIMEOUT": "1",
           "IDP_METRICS_ADDR": metrics.removeprefix("http://")}
    base, process = start_server(tmp_path, env, ready_path="/healthz")
    try:
        deadline = time.monotonic() + 30
        while len(workers := _workers(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        directory = _multiproc_dir(workers[0])
        assert _multiproc_dir(workers[1]) == directory and not directory.is_relative_to(tmp_path)
        per_worker = {pid: [str(directory / f"counter_{pid}.db")] for pid in workers}
        # new connections, a few at a time, until the kernel has handed some to each worker
        with ThreadPoolExecutor(4) as pool:
            for _ in range(50):
                list(pool.map(lambda _: httpx.get(f"{base}/healthz").raise_for_status(), range(4)))
                if all(_healthz_count(files) > 0 for files in per_worker.values()):
                    break
        counts = {pid: _healthz_count(files) for pid, files in per_worker.items()}
        assert all(counts.values()), counts
        assert httpx.post(f"{base}/users", json={"name": "Ann", "email": "ann@example.com",
                                                 "password": PASSWORD}, timeout=10).status_code == 503

        samples = _scrape(metrics)
        assert samples[("idp_http_requests_total", (("method", "GET"), ("route", "/healthz"),
                                                     ("status", "200")))] == sum(counts.values())
        assert samples[("idp_database_errors_total", ())] == 1
        assert httpx.get(f"{base}/metrics").status_code == 404  # not through the app's port
        os.kill(process.pid, 15)
        assert process.wait(timeout=30) == 0
        assert not directory.exists()  # the parent cleans up after its workers
    finally:
        stop_server(process)


def test_a_metrics_port_in_use_stops_idp_serve_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = "127.0.0.1:%d" % taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        env.update({"IDP_PORT": str(free_port()), "IDP_KEYS_DIR": str(tmp_path / "keys"),
                    "IDP_METRICS_ADDR": address})
        result = subprocess.run([sys.executable, "-m", "idp.cli", "serve"], env=env, capture_output=True,
                                text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert errors == [f"idp: cannot serve metrics on {address}: address already in use"], result.stderr
