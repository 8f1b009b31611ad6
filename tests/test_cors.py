"""CORS: single-page apps (public clients) may call token, revocation and userinfo from
the origins of their redirect URIs; nobody else gets a CORS header from those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from quart.typing import TestClientProtocol as Client

from idp.oauth.clients_file import ClientEntry
from idp.http.cors import allowed_origins
from tests.conftest import CLIENTS
from tests.helpers import post_form

SPA = {"client_id": "spa", "client_secret": None, "token_endpoint_auth_method": "none",
       "grant_types": ["authorization_code", "refresh_token"], "scope": "openid",
       "redirect_uris": ["https://spa.example.com/callback", "http://localhost:5173/cb"]}
NATIVE = {"client_id": "native", "client_secret": None, "token_endpoint_auth_method": "none",
          "grant_types": ["authorization_code"], "scope": "openid",
          "redirect_uris": ["com.example.app:/callback"]}
CONFIDENTIAL = {"client_id": "site", "client_secret": "site-secret-0123456789",
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code"], "scope": "openid",
                "redirect_uris": ["https://site.example.com/callback"]}



@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(CLIENTS + [SPA, NATIVE, CONFIDENTIAL]))
    return path


APP_ORIGIN = "https://spa.example.com"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type"}


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
async def test_a_public_clients_origin_may_call(client: Client, path: str) -> None:
    response = await post_form(client, path, {"client_id": "spa", "grant_type": "refresh_token",
                                              "refresh_token": "x", "token": "x"}, {"Origin": APP_ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "Origin" in response.headers["Vary"]
    assert "WWW-Authenticate" in response.headers["Access-Control-Expose-Headers"]


async def test_loopback_development_origin_with_its_port(client: Client) -> None:
    response = await post_form(client, "/oauth/token", {"grant_type": "x"}, {"Origin": "http://localhost:5173"})
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


@pytest.mark.parametrize("origin", [
    "https://site.example.com",      # a confidential client's: it calls from its server, not a browser
    "https://evil.example.com",
    "https://spa.example.com:8443",
    "http://spa.example.com",
    "https://spa.example.com.evil.example",
    "null",
    "*",
])
async def test_any_other_origin_gets_no_cors_header(client: Client, origin: str) -> None:
    response = await post_form(client, "/oauth/token", {"grant_type": "x"}, {"Origin": origin})
    assert not any(name.startswith("Access-Control-") for name in response.headers.keys())
    assert "Origin" in response.headers["Vary"]
    options = await client.options("/oauth/token", headers=preflight(origin))
    assert not any(name.startswith("Access-Control-") for name in options.headers.keys())


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
async def test_preflight(client: Client, path: str) -> None:
    response = await client.options(path, headers=preflight(APP_ORIGIN))
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]


async def test_userinfo_preflight_allows_its_methods(client: Client) -> None:
    response = await client.options("/oauth/userinfo", headers=preflight(APP_ORIGIN, "GET"))
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST"
    got = await client.get("/oauth/userinfo", headers={"Origin": APP_ORIGIN})
    assert got.status_code == 401
    assert got.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


async def test_other_endpoints_get_no_cors_even_from_an_app(client: Client) -> None:
    for response in (
        await post_form(client, "/oauth/introspect", {"token": "x"}, {"Origin": APP_ORIGIN}),
        await client.get("/users/me", headers={"Origin": APP_ORIGIN}),
        await client.options("/oauth/introspect", headers=preflight(APP_ORIGIN)),
    ):
        assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/.well-known/oauth-authorization-server"])
async def test_public_documents_answer_any_origin(client: Client, path: str) -> None:
    response = await client.get(path, headers={"Origin": "https://anyone.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_origins_come_from_public_clients_redirect_uris_only() -> None:
    entries = [ClientEntry.model_validate(c) for c in (SPA, NATIVE, CONFIDENTIAL)] + [
        ClientEntry.model_validate({**SPA, "client_id": "b",
                                    "redirect_uris": ["https://B.example.com:443/x?y", "http://[::1]:3000/cb"]}),
    ]
    assert allowed_origins(entries) == {"https://spa.example.com", "http://localhost:5173",
                                        "https://b.example.com", "http://[::1]:3000"}
