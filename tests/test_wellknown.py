"""Discovery, JWKS, health, and JSON for every HTTP-level error."""

from __future__ import annotations

import logging
from typing import Any
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.ops.keys import SIGNING_DELAY
from tests.conftest import ManualClock

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


METADATA_MEMBERS = {
    "issuer", "token_endpoint", "jwks_uri", "revocation_endpoint", "introspection_endpoint",
    "grant_types_supported", "token_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported",
    "scopes_supported", "response_types_supported", "service_documentation",
    # browser sign-in
    "authorization_endpoint", "userinfo_endpoint", "end_session_endpoint", "response_modes_supported",
    "code_challenge_methods_supported", "authorization_response_iss_parameter_supported",
}


async def test_metadata_lists_every_endpoint(client: Client) -> None:
    response = await client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    meta = await response.get_json()
    issuer = "http://localhost:8000"
    assert meta.keys() == METADATA_MEMBERS  # no registration_endpoint: that is RFC 7591, not offered
    assert meta["issuer"] == issuer
    assert meta["token_endpoint"] == f"{issuer}/oauth/token"
    assert meta["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert meta["revocation_endpoint"] == f"{issuer}/oauth/revoke"
    assert meta["introspection_endpoint"] == f"{issuer}/oauth/introspect"
    assert meta["grant_types_supported"] == ["authorization_code", "password", "refresh_token", "client_credentials"]
    all_methods = {"none", "client_secret_basic", "client_secret_post"}
    assert set(meta["token_endpoint_auth_methods_supported"]) == all_methods
    assert set(meta["revocation_endpoint_auth_methods_supported"]) == all_methods
    assert set(meta["introspection_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert {"account", "read", "write", "profile"} <= set(meta["scopes_supported"])
    assert meta["response_types_supported"] == ["code"]
    assert meta["authorization_endpoint"] == f"{issuer}/oauth/authorize"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["service_documentation"] == f"{issuer}/openapi.json"


async def test_openid_configuration_has_every_member_oidc_discovery_requires(client: Client) -> None:
    """OIDC Discovery 1.0 §3: the REQUIRED members, with the values the contract names."""
    response = await client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    doc = await response.get_json()
    issuer = "http://localhost:8000"
    required = {"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
                "subject_types_supported", "id_token_signing_alg_values_supported"}
    assert required <= doc.keys()
    assert doc["issuer"] == issuer
    assert doc["response_types_supported"] == ["code"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["userinfo_endpoint"] == f"{issuer}/oauth/userinfo"
    assert doc["end_session_endpoint"] == f"{issuer}/oauth/logout"
    assert "openid" in doc["scopes_supported"]  # §3: SHOULD, and strict libraries check it
    assert doc["request_uri_parameter_supported"] is False  # its default, true, would be a lie
    meta = await (await client.get("/.well-known/oauth-authorization-server")).get_json()
    assert {k: v for k, v in doc.items() if k in meta} == meta


@pytest.mark.parametrize("settings_overrides", [{"port": 8600}])
async def test_metadata_urls_follow_the_port_when_no_issuer_is_set(client: Client) -> None:
    meta = await (await client.get("/.well-known/oauth-authorization-server")).get_json()
    assert meta["issuer"] == "http://localhost:8600"
    assert meta["token_endpoint"] == "http://localhost:8600/oauth/token"


async def test_jwks_is_public_and_cacheable(client: Client) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    cache = response.headers["Cache-Control"]
    assert cache.startswith("public, max-age=") and int(cache.split("=")[1]) > 0
    keys = (await response.get_json())["keys"]
    assert keys
    for key in keys:
        assert {"kid", "kty", "alg", "use"} <= key.keys() and key["use"] == "sig"
        assert not PRIVATE_MEMBERS & key.keys()


async def test_jwks_follows_rotation(app: Quart, client: Client, clock: ManualClock) -> None:
    ring = app.extensions["idp"].keyring
    old = ring.active_kid
    new = ring.rotate().kid
    response = await client.get("/.well-known/jwks.json")
    kids = {k["kid"] for k in (await response.get_json())["keys"]}
    assert kids == {old, new}
    # the new key signs only once every cache of this answer has expired
    assert int(response.headers["Cache-Control"].split("max-age=")[1]) <= SIGNING_DELAY
    clock.advance(SIGNING_DELAY + app.extensions["idp"].settings.access_token_ttl)
    kids = {k["kid"] for k in (await (await client.get("/.well-known/jwks.json")).get_json())["keys"]}
    assert kids == {new}


async def test_jwks_is_serialised_again_only_when_the_ring_changes(
        app: Quart, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    ring = app.extensions["idp"].keyring
    built: list[int] = []
    real_jwks = ring.jwks

    def counting_jwks() -> dict[str, object]:
        built.append(1)
        return real_jwks()

    monkeypatch.setattr(ring, "jwks", counting_jwks)
    first = await (await client.get("/.well-known/jwks.json")).get_data()
    for _ in range(3):
        assert await (await client.get("/.well-known/jwks.json")).get_data() == first
    assert len(built) == 1
    ring.rotate()
    assert await (await client.get("/.well-known/jwks.json")).get_data() != first
    assert len(built) == 2


async def test_healthz_and_readyz(client: Client) -> None:
    assert (await client.get("/healthz")).status_code == 200
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert (await response.get_json())["checks"] == {"database": True, "signing_key": True}


async def test_readyz_is_503_when_the_database_does_not_answer(app: Quart, client: Client) -> None:
    class Down:
        async def command(self, *args: object) -> None:
            raise ConnectionError("no database")

    app.extensions["idp"].db = Down()
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert (await response.get_json())["checks"]["database"] is False


async def test_unknown_path_is_json_404(client: Client) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert (await response.get_json())["error"] == "not_found"


async def test_wrong_method_is_json_405_with_allow(client: Client) -> None:
    response = await client.delete("/oauth/token")
    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert "POST" in response.headers["Allow"]


async def test_oversized_body_is_json_413(client: Client) -> None:
    response = await client.post("/users", data=b"x" * 70_000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert (await response.get_json())["error"] == "request_too_large"


async def test_security_headers_on_every_response(client: Client) -> None:
    for response in (await client.get("/healthz"), await client.get("/nope")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_the_app_starts_while_the_database_is_down_and_becomes_ready(
        tmp_path: Path, clients_file: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """503 until the database answers; the indexes and clients are put in place then."""
    import asyncio

    from pymongo.errors import ServerSelectionTimeoutError

    from idp import app as app_module
    from idp.app import create_app
    from idp.settings import Settings

    settings = Settings(mongo_uri="memory://", keys_dir=tmp_path / "keys", clients_file=clients_file)
    app = create_app(settings, clock=clock)
    services = app.extensions["idp"]
    real_prepare = app_module._prepare_database
    down = {"until": 2}

    async def flaky(s: object) -> None:
        down["until"] -= 1
        if down["until"] >= 0:
            raise ServerSelectionTimeoutError("no database")
        await real_prepare(s)

    monkeypatch.setattr(app_module, "_prepare_database", flaky)
    async with app.test_app():
        client = app.test_client()
        assert (await client.get("/readyz")).status_code == 503
        for _ in range(100):
            if services.database_prepared:
                break
            await asyncio.sleep(0.05)
        ready = await client.get("/readyz")
        assert ready.status_code == 200, await ready.get_json()
        assert await services.db["clients"].count_documents({}) > 0


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="idp.keys")
    return caplog


async def test_the_server_logs_each_signing_key_it_starts_with(info_logs: pytest.LogCaptureFixture,
                                                               app: Quart) -> None:
    kid = app.extensions["idp"].keyring.active_kid
    messages = [r.getMessage() for r in info_logs.get_records("setup") if r.name == "idp.keys"]
    assert messages == [f"signing key {kid} picked up: active"]


async def test_prepared_answers_carry_what_every_answer_carries(app: Quart, client: Client) -> None:
    """JWKS, discovery and liveness are answered in front of the app (idp.http.prepared):
    the same headers, a request id, the metrics and an access-log line as any answer."""
    from prometheus_client import REGISTRY

    reached_the_app: list[str] = []
    behind = app.asgi_app._app  # type: ignore[attr-defined]

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        reached_the_app.append(f"{scope['method']} {scope['path']}")
        await behind(scope, receive, send)

    app.asgi_app._app = spy  # type: ignore[attr-defined]

    def counted() -> float:
        return REGISTRY.get_sample_value("idp_http_requests_total",
                                         {"route": "/.well-known/jwks.json", "method": "GET", "status": "200"}) or 0.0

    before = counted()
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200 and (await response.get_json())["keys"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert len(response.headers["X-Request-ID"]) >= 16
    assert counted() - before == 1
    head = await client.head("/healthz")
    assert head.status_code == 200 and await head.get_data() == b""
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        assert (await client.get(path)).headers["Access-Control-Allow-Origin"] == "*"
    assert reached_the_app == []
    # any other method is the app's: a JSON 405 that names the allowed ones
    refused = await client.post("/.well-known/jwks.json")
    assert refused.status_code == 405 and "GET" in refused.headers["Allow"]
    assert reached_the_app == ["POST /.well-known/jwks.json"]
