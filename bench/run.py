"""Load scenarios against a real `idp serve` on 127.0.0.1; prints a Markdown table.

    .venv/bin/python bench/run.py [--seconds 10] [--concurrency 16] [--mongo-uri URI]

Each scenario runs for a fixed time with a fixed number of concurrent clients, all on
loopback. The argon2 ceiling is how many password verifications per second this
machine does with one thread per core, outside the server: the password grant cannot
beat it, so its throughput is quoted as a ratio of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

PASSWORD = "correct horse battery staple"
CLIENTS = [
    {"client_id": "web", "client_secret": None, "token_endpoint_auth_method": "none",
     "grant_types": ["password", "refresh_token"], "scope": "account"},
    {"client_id": "rs", "client_secret": "rs-secret-0123456789abcdef", "token_endpoint_auth_method":
     "client_secret_basic", "grant_types": ["client_credentials"], "scope": "read"},
]


def argon2_ceiling(seconds: float) -> float:
    from argon2 import PasswordHasher

    hasher = PasswordHasher()
    stored = hasher.hash(PASSWORD)
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + seconds

    def work() -> int:
        done = 0
        while time.monotonic() < deadline:
            hasher.verify(stored, PASSWORD)
            done += 1
        return done

    with ThreadPoolExecutor(cores) as pool:
        return sum(pool.map(lambda _: work(), range(cores))) / seconds


async def measure(name: str, seconds: float, concurrency: int,
                  one: Callable[[int], Awaitable[bool]]) -> dict[str, object]:
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds

    async def worker(n: int) -> None:
        nonlocal failures
        i = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            ok = await one(n * 1_000_000 + i)
            latencies.append(time.perf_counter() - started)
            failures += 0 if ok else 1
            i += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "scenario": name,
        "requests/s": round(len(latencies) / elapsed, 1),
        "p50 ms": round(statistics.median(latencies) * 1000, 1),
        "p95 ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "errors": failures,
    }


async def scenarios(base: str, seconds: float, concurrency: int) -> list[dict[str, object]]:
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        users = [f"bench{i}@example.com" for i in range(concurrency)]
        for email in users:
            await http.post("/users", json={"name": "Bench", "email": email, "password": PASSWORD})

        async def login(i: int) -> dict:
            r = await http.post("/oauth/token", data={"grant_type": "password", "client_id": "web",
                                                      "username": users[i % len(users)], "password": PASSWORD})
            return r.json() if r.status_code == 200 else {}

        sessions = [await login(i) for i in range(concurrency)]
        refresh_tokens = {i: s["refresh_token"] for i, s in enumerate(sessions)}
        access = sessions[0]["access_token"]

        async def password_grant(i: int) -> bool:
            return bool(await login(i))

        async def refresh(i: int) -> bool:
            slot = (i // 1_000_000) % concurrency  # one chain per worker: no reuse
            r = await http.post("/oauth/token", data={"grant_type": "refresh_token", "client_id": "web",
                                                      "refresh_token": refresh_tokens[slot]})
            if r.status_code != 200:
                return False
            refresh_tokens[slot] = r.json()["refresh_token"]
            return True

        async def me(i: int) -> bool:
            return (await http.get("/users/me", headers={"Authorization": f"Bearer {access}"})).status_code == 200

        async def introspect(i: int) -> bool:
            r = await http.post("/oauth/introspect", data={"token": access},
                                auth=("rs", "rs-secret-0123456789abcdef"))
            return r.status_code == 200 and r.json()["active"]

        async def jwks(i: int) -> bool:
            return (await http.get("/.well-known/jwks.json")).status_code == 200

        return [await measure(name, seconds, concurrency, fn) for name, fn in [
            ("password grant", password_grant), ("refresh grant (rotation)", refresh),
            ("GET /users/me (Bearer)", me), ("introspection", introspect), ("JWKS", jwks)]]


def start_server(tmp: Path, mongo_uri: str) -> tuple[str, subprocess.Popen[bytes]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp / "clients.json").write_text(json.dumps(CLIENTS))
    env = {**os.environ, "IDP_PORT": str(port), "IDP_KEYS_DIR": str(tmp / "keys"),
           "IDP_CLIENTS_FILE": str(tmp / "clients.json"), "IDP_MONGO_URI": mongo_uri,
           "IDP_MONGO_DB": f"bench{port}", "IDP_LOGIN_MAX_FAILURES": "1000000",
           "IDP_IP_MAX_FAILURES": "1000000", "IDP_REGISTER_MAX_PER_IP": "1000000"}
    server = subprocess.Popen([sys.executable, "-m", "idp.cli", "serve"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return base, server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--mongo-uri", default="memory://")
    args = parser.parse_args()

    ceiling = argon2_ceiling(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        base, server = start_server(Path(tmp), args.mongo_uri)
        try:
            rows = asyncio.run(scenarios(base, args.seconds, args.concurrency))
        finally:
            server.terminate()
            server.wait()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"store {args.mongo_uri.split('://')[0]}, {args.concurrency} concurrent clients, {args.seconds:g} s each")
    print(f"argon2 ceiling (verifications/s, one thread per core, no server): {ceiling:.1f}\n")
    print("| scenario | requests/s | p50 ms | p95 ms | errors |\n|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['scenario']} | {row['requests/s']} | {row['p50 ms']} | {row['p95 ms']} | {row['errors']} |")
    grant = rows[0]["requests/s"]
    print(f"\npassword grants/s against the argon2 ceiling: {grant / ceiling:.2f}")


if __name__ == "__main__":
    main()
