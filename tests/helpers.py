"""What the HTTP tests keep doing: register someone, log them in, call /users/me."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import jwt
from quart.typing import TestClientProtocol

from tests.conftest import SECRETS

PASSWORD = "correct horse battery staple"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(client_id: str, secret: str | None = None) -> dict[str, str]:
    secret = SECRETS[client_id] if secret is None else secret
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_form(client: TestClientProtocol, path: str, data: dict[str, str] | list[tuple[str, str]],
                    headers: dict[str, str] | None = None) -> Any:
    return await client.post(path, data=urlencode(data), headers={**FORM, **(headers or {})})


async def register(client: TestClientProtocol, email: str = "ann@example.com",
                   password: str = PASSWORD, name: str = "Ann") -> dict[str, Any]:
    response = await client.post("/users", json={"name": name, "email": email, "password": password})
    assert response.status_code == 201, await response.get_data(as_text=True)
    return await response.get_json()


async def password_grant(client: TestClientProtocol, email: str = "ann@example.com",
                         password: str = PASSWORD, client_id: str = "web", **extra: str) -> Any:
    data = {"grant_type": "password", "username": email, "password": password, **extra}
    if client_id == "web":
        return await post_form(client, "/oauth/token", {**data, "client_id": "web"})
    return await post_form(client, "/oauth/token", data, basic(client_id))


async def login(client: TestClientProtocol, email: str = "ann@example.com",
                password: str = PASSWORD, client_id: str = "web", **extra: str) -> dict[str, Any]:
    response = await password_grant(client, email, password, client_id, **extra)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_json()


async def refresh(client: TestClientProtocol, refresh_token: str, client_id: str = "web", **extra: str) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra}
    return await post_form(client, "/oauth/token", data)


async def revoke(client: TestClientProtocol, token: str, client_id: str = "web", **extra: str) -> Any:
    if client_id == "web":
        return await post_form(client, "/oauth/revoke", {"token": token, "client_id": "web", **extra})
    return await post_form(client, "/oauth/revoke", {"token": token, **extra}, basic(client_id))


async def introspect(client: TestClientProtocol, token: str, client_id: str = "service") -> dict[str, Any]:
    response = await post_form(client, "/oauth/introspect", {"token": token}, basic(client_id))
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_json()


async def me_status(client: TestClientProtocol, access_token: str) -> int:
    return (await client.get("/users/me", headers=bearer(access_token))).status_code


async def verify_like_a_resource_server(client: TestClientProtocol, token: str, audience: str,
                                        issuer: str) -> dict[str, Any]:
    """What a resource server does: fetch the JWKS, pick the key by kid, check with PyJWT."""
    jwks = await (await client.get("/.well-known/jwks.json")).get_json()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=issuer,
                      options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]})


async def refresh_storm(client: TestClientProtocol, refresh_token: str, issued: list[dict[str, Any]],
                        rounds: int) -> None:
    """Refresh in a chain as fast as possible, recording every token response, until refused."""
    current = refresh_token
    for _ in range(rounds):
        response = await refresh(client, current)
        if response.status_code != 200:
            return
        body = await response.get_json()
        issued.append(body)
        current = body["refresh_token"]
