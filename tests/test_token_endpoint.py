"""POST /oauth/token: each grant, each client authentication, each RFC 6749 §5.2 error."""

from __future__ import annotations

import time

import jwt
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.conftest import ManualClock
from tests.helpers import (
    PASSWORD, basic, login, me_status, password_grant, post_form, verify_like_a_resource_server,
)

ISSUER = "http://localhost:8000"


async def test_password_grant_for_a_public_client(client: Client, ann: dict) -> None:
    response = await password_grant(client)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = await response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "account profile"  # no scope asked: the client's registered scope
    assert len(body["refresh_token"]) >= 43  # 256 bits, base64url


async def test_access_token_verifies_like_a_resource_server_would(client: Client, ann: dict) -> None:
    tokens = await login(client)
    claims = await verify_like_a_resource_server(client, tokens["access_token"], ISSUER, ISSUER)
    assert claims["sub"] == ann["id"]
    assert claims["client_id"] == "web"
    assert claims["scope"] == "account profile"
    assert claims["exp"] == claims["iat"] + 900
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["jti"] and claims["sid"]


async def test_access_token_times_follow_the_server_clock(client: Client, ann: dict, clock: ManualClock) -> None:
    """iat and exp come from the clock the server checks them with, not from time.time()."""
    clock.advance(3600)
    tokens = await login(client)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == claims["iat"] + 900
    assert await me_status(client, tokens["access_token"]) == 200
    clock.advance(899)
    assert await me_status(client, tokens["access_token"]) == 200
    clock.advance(1)
    assert await me_status(client, tokens["access_token"]) == 401


@pytest.mark.parametrize("settings_overrides", [{"audience": "https://api.example.com", "access_token_ttl": 120}])
async def test_audience_and_lifetime_come_from_settings(client: Client, ann: dict) -> None:
    tokens = await login(client)
    assert tokens["expires_in"] == 120
    claims = await verify_like_a_resource_server(client, tokens["access_token"], "https://api.example.com", ISSUER)
    assert claims["exp"] - claims["iat"] == 120


async def test_email_is_matched_case_insensitively(client: Client, ann: dict) -> None:
    assert (await password_grant(client, email="ANN@Example.COM")).status_code == 200


@pytest.mark.parametrize("client_id", ["backend", "poster"])
async def test_password_grant_for_confidential_clients(client: Client, ann: dict, client_id: str) -> None:
    data = {"grant_type": "password", "username": "ann@example.com", "password": PASSWORD}
    if client_id == "backend":
        response = await post_form(client, "/oauth/token", data, basic("backend"))
    else:
        response = await post_form(client, "/oauth/token",
                                   {**data, "client_id": "poster", "client_secret": "poster-secret-0123456789"})
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert (await response.get_json())["refresh_token"]


async def test_wrong_password_and_unknown_email_get_the_same_answer(client: Client, ann: dict) -> None:
    wrong = await password_grant(client, password="not the password")
    unknown = await password_grant(client, email="nobody@example.com")
    assert wrong.status_code == unknown.status_code == 400
    assert await wrong.get_json() == await unknown.get_json() == {
        "error": "invalid_grant", "error_description": "The e-mail address or password is wrong."}
    ignore = {"date", "x-request-id"}  # per response by nature
    assert {k: v for k, v in wrong.headers.items() if k.lower() not in ignore} == \
           {k: v for k, v in unknown.headers.items() if k.lower() not in ignore}


async def test_client_credentials(client: Client) -> None:
    response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials"}, basic("service"))
    assert response.status_code == 200
    body = await response.get_json()
    assert "refresh_token" not in body
    assert body["scope"] == "read"
    claims = await verify_like_a_resource_server(client, body["access_token"], ISSUER, ISSUER)
    assert claims["sub"] == "service" and claims["client_id"] == "service"
    # a token without a user cannot use the account endpoints
    assert await me_status(client, body["access_token"]) == 403


async def test_client_credentials_with_client_secret_post(client: Client) -> None:
    response = await post_form(client, "/oauth/token", {
        "grant_type": "client_credentials", "client_id": "poster", "client_secret": "poster-secret-0123456789",
        "scope": "read"})
    assert response.status_code == 200
    assert (await response.get_json())["scope"] == "read"


async def test_public_client_may_not_use_client_credentials(client: Client) -> None:
    response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials", "client_id": "web"})
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "unauthorized_client"


async def test_client_not_registered_for_the_grant(client: Client, ann: dict) -> None:
    response = await password_grant(client, client_id="service")
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "unauthorized_client"


async def test_narrower_scope_is_honoured_and_wider_is_invalid_scope(client: Client, ann: dict) -> None:
    narrow = await login(client, scope="account")
    assert narrow["scope"] == "account"
    wide = await password_grant(client, scope="account admin")
    assert wide.status_code == 400
    assert (await wide.get_json())["error"] == "invalid_scope"


async def test_invalid_scope_names_the_scopes_not_allowed(client: Client, ann: dict) -> None:
    response = await password_grant(client, scope="account admin root")
    body = await response.get_json()
    assert body["error"] == "invalid_scope"
    assert body["error_description"] == "Client 'web' may not ask for the scopes 'admin', 'root'."


@pytest.mark.parametrize("scope", ['acc"ount', "account\\", "  account", "account  profile"])
async def test_malformed_scope_is_invalid_scope(client: Client, ann: dict, scope: str) -> None:
    response = await password_grant(client, scope=scope)
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_scope"


async def test_unsupported_grant_type(client: Client) -> None:
    response = await post_form(client, "/oauth/token", {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                                                       "client_id": "web"})
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("data", [
    {"grant_type": "password", "client_id": "web", "password": PASSWORD},
    {"grant_type": "password", "client_id": "web", "username": "ann@example.com"},
    {"grant_type": "refresh_token", "client_id": "web"},
])
async def test_missing_parameters_are_invalid_request(client: Client, ann: dict, data: dict) -> None:
    response = await post_form(client, "/oauth/token", data)
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_request"


async def test_a_parameter_sent_twice_is_invalid_request(client: Client, ann: dict) -> None:
    response = await post_form(client, "/oauth/token", [
        ("grant_type", "password"), ("client_id", "web"), ("username", "ann@example.com"),
        ("password", PASSWORD), ("password", "other")])
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_request"


async def test_wrong_basic_secret_is_401_with_basic_challenge(client: Client) -> None:
    response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials"},
                               basic("service", "wrong-secret"))
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"] == "Basic"


@pytest.mark.parametrize("data, headers", [
    ({"grant_type": "client_credentials"}, {}),                                          # no authentication
    ({"grant_type": "client_credentials", "client_id": "nobody"}, {}),                   # unknown client
    ({"grant_type": "client_credentials", "client_id": "service"}, {}),                  # confidential without secret
    ({"grant_type": "client_credentials", "client_id": "poster", "client_secret": "x"}, {}),  # wrong post secret
    ({"grant_type": "client_credentials"}, {"Authorization": "Basic !!!"}),              # malformed header
])
async def test_failed_client_authentication_is_401_invalid_client(client: Client, data: dict, headers: dict) -> None:
    response = await post_form(client, "/oauth/token", data, headers)
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "invalid_client"


async def test_client_must_use_its_registered_auth_method(client: Client) -> None:
    # "backend" is registered for client_secret_basic: its secret in the body is refused
    response = await post_form(client, "/oauth/token", {
        "grant_type": "client_credentials", "client_id": "backend", "client_secret": "backend-secret-0123456789"})
    assert response.status_code == 401


async def test_token_endpoint_needs_a_form_body(client: Client) -> None:
    response = await client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_request"


@pytest.mark.production_argon2
async def test_rehash_on_login_when_parameters_changed(app: Quart, client: Client, ann: dict) -> None:
    from argon2 import PasswordHasher

    credentials = app.extensions["idp"].db["credentials"]
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await credentials.update_one({"user_id": ann["id"]}, {"$set": {"password_hash": weak}})
    await login(client)
    stored = (await credentials.find_one({"user_id": ann["id"]}))["password_hash"]
    assert stored != weak and "m=65536" in stored
    await login(client)  # the new hash still verifies


async def test_missing_grant_type_is_invalid_request(client: Client) -> None:
    response = await post_form(client, "/oauth/token", {"client_id": "web"})
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_request"


@pytest.mark.parametrize("clients_file", [[{"client_id": "bare", "client_secret": "bare-secret-0123456789",
                                            "token_endpoint_auth_method": "client_secret_basic",
                                            "grant_types": ["client_credentials"], "scope": ""}]],
                         indirect=True)
async def test_a_client_with_no_scope_gets_an_empty_scope(client: Client) -> None:
    response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials"},
                               basic("bare", "bare-secret-0123456789"))
    assert response.status_code == 200
    assert (await response.get_json())["scope"] == ""


@pytest.mark.parametrize("settings_overrides", [{"issuer": "http://idp:8000"}])
async def test_a_plain_http_issuer_behind_a_proxy_still_issues_tokens(client: Client, ann: dict) -> None:
    tokens = await login(client)
    claims = await verify_like_a_resource_server(client, tokens["access_token"], "http://idp:8000",
                                                 "http://idp:8000")
    assert claims["iss"] == "http://idp:8000"
