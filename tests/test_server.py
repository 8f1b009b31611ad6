"""The real thing: `idp serve` (Hypercorn) on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import signal
import subprocess

import httpx
import jwt

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
