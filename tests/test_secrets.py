"""No secret in any log line or response: passwords, hashes, tokens, client secrets, keys."""

from __future__ import annotations

import json
import logging

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.ops.logs import JsonFormatter
from tests.conftest import SECRETS
from tests.helpers import PASSWORD, basic, bearer, introspect, login, password_grant, post_form, refresh, register


async def test_a_full_flow_logs_no_secret(app: Quart, client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    new_password = "a completely new passphrase"
    await register(client)
    await password_grant(client, password="a wrong password")
    first = await login(client)
    second = await (await refresh(client, first["refresh_token"])).get_json()
    await refresh(client, first["refresh_token"])  # reuse: ends the login
    third = await login(client, client_id="backend")
    await introspect(client, third["access_token"])
    service = await (await post_form(client, "/oauth/token", {"grant_type": "client_credentials"},
                                     basic("service"))).get_json()
    await client.patch("/users/me", json={"password": new_password, "current_password": PASSWORD},
                       headers=bearer(third["access_token"]))
    await post_form(client, "/oauth/revoke", {"token": third["refresh_token"]}, basic("backend"))
    fourth = await login(client, password=new_password)
    await client.delete("/users/me", json={"current_password": new_password}, headers=bearer(fourth["access_token"]))

    ring = app.extensions["idp"].keyring
    private = ring.signing_keys().keys[0].as_dict(private=True)
    secrets = [
        PASSWORD, new_password, "a wrong password",
        *[s for s in SECRETS.values() if s],
        *[t[k] for t in (first, second, third, fourth, service) for k in ("access_token", "refresh_token") if k in t],
        *[private[m] for m in ("d", "p", "q", "dp", "dq", "qi")],
        "$argon2id$",
    ]
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any('"request_id"' in line for line in lines)
    for line in lines:
        json.loads(line)
        for secret in secrets:
            assert secret not in line, f"a secret reached the logs: {line[:200]}"


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": frozenset({"10.0.0.1"})}])
async def test_responses_carry_a_request_id_chosen_by_a_client_only_behind_a_trusted_proxy(client: Client) -> None:
    response = await client.get("/healthz")
    assert len(response.headers["X-Request-ID"]) >= 16

    async def offered(peer: str, request_id: str) -> str:
        answer = await client.get("/healthz", headers={"X-Request-ID": request_id}, scope_base={"client": (peer, 1)})
        return answer.headers["X-Request-ID"]

    assert await offered("10.0.0.1", "trace-123") == "trace-123"
    assert await offered("10.0.0.1", "bad id; with spaces and {json}") != "bad id; with spaces and {json}"
    assert await offered("203.0.113.9", "trace-123") != "trace-123"
