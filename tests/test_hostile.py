"""Hostile input on every endpoint: a clear JSON 4xx, never a 5xx, and nothing stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from argon2 import PasswordHasher
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey
from quart import Quart
from quart.typing import TestClientProtocol as Client

from idp.accounts import passwords
from tests.conftest import ManualClock
from tests.helpers import FORM, PASSWORD, basic, bearer, introspect, me_status

JSON = {"Content-Type": "application/json"}
FORM_ENDPOINTS = ["/oauth/token", "/oauth/revoke", "/oauth/introspect"]
JSON_ENDPOINTS = [("POST", "/users"), ("PATCH", "/users/me"), ("DELETE", "/users/me")]


async def snapshot(app: Quart) -> dict[str, int]:
    db = app.extensions["idp"].db
    names = ["users", "credentials", "sessions", "session_lists", "rotations", "revoked_access_tokens", "clients"]
    return {name: await db[name].count_documents({}) for name in names}


async def send(client: Client, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    return await client.open(path, method=method, data=body, headers=headers)


async def assert_clean_error(response: Any, statuses: tuple[int, ...] = (400, 422)) -> dict:
    assert response.status_code in statuses, (response.status_code, await response.get_data(as_text=True))
    assert response.mimetype == "application/json"
    body = await response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str)
    return body


# -- JSON endpoints -----------------------------------------------------------------------

JSON_GARBAGE = [
    b"{not json", b"", b"[]", b'"a string"', b"42", b"null", b"true", b'{"name": NaN}',
    b"\xff\xfe\x00garbage",
    '{"name": "\u00e9"}'.encode("latin-1"),
    b'{"name": "A", "name": "B", "email": "a@example.com", "password": "x"}',
    b"[" * 5000 + b"]" * 5000,
]


@pytest.mark.parametrize("method, path", JSON_ENDPOINTS)
@pytest.mark.parametrize("body", JSON_GARBAGE)
async def test_malformed_json_bodies(app: Quart, client: Client, session: dict, method: str, path: str,
                                     body: bytes) -> None:
    before = await snapshot(app)
    response = await send(client, method, path, body, {**JSON, **bearer(session["access_token"])})
    error = await assert_clean_error(response)
    assert error["error"] == "invalid_request"
    assert await snapshot(app) == before


OPERATOR_BODIES = [
    {"name": "A", "email": {"$ne": None}, "password": PASSWORD},
    {"name": {"$gt": ""}, "email": "a@example.com", "password": PASSWORD},
    {"name": "A", "email": "a@example.com", "password": {"$regex": ".*"}},
    {"name": "A", "email": "a@example.com", "password": PASSWORD, "$where": "1"},
    {"name": "A", "email": "a@example.com", "password": PASSWORD, "email.$": "x"},
    {"name": "A", "email": "a@example.com", "password": PASSWORD, "current_password": {"$ne": 1}},
    {"name": ["A"], "email": "a@example.com", "password": PASSWORD},
    {"name": "A", "email": "a@example.com", "password": 12345678},
    {"name": "A" * 100_00, "email": "a@example.com", "password": PASSWORD},
    {"name": "A", "email": "a" * 300 + "@example.com", "password": PASSWORD},
    {"name": "A", "email": "a@example.com", "password": "p" * 10_000},
    {"name": "A\x00B", "email": "a@example.com", "password": PASSWORD},
]


@pytest.mark.parametrize("method, path", JSON_ENDPOINTS)
@pytest.mark.parametrize("body", OPERATOR_BODIES)
async def test_operator_shaped_wrong_typed_and_long_values(app: Quart, client: Client, session: dict,
                                                           method: str, path: str, body: dict) -> None:
    before = await snapshot(app)
    response = await send(client, method, path, json.dumps(body).encode(), {**JSON, **bearer(session["access_token"])})
    error = await assert_clean_error(response, (400, 422, 403))
    assert error["error"] in ("invalid_request", "invalid_current_password")
    assert await snapshot(app) == before
    assert await me_status(client, session["access_token"]) == 200


@pytest.mark.parametrize("method, path", JSON_ENDPOINTS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          None])
async def test_wrong_content_type_for_json(app: Quart, client: Client, session: dict, method: str, path: str,
                                           content_type: str | None) -> None:
    before = await snapshot(app)
    headers = bearer(session["access_token"])
    if content_type:
        headers["Content-Type"] = content_type
    body = json.dumps({"name": "A", "email": "z@example.com", "password": PASSWORD,
                       "current_password": PASSWORD}).encode()
    await assert_clean_error(await send(client, method, path, body, headers))
    assert await snapshot(app) == before


# A lone surrogate is valid JSON ("\\ud800") but not Unicode text: it cannot be encoded,
# hashed or stored, so it must be refused as input, before a hash is spent or anything counted.
SURROGATE_BODIES = [
    ("POST", "/users", {"name": "A\ud800", "email": "s@example.com", "password": PASSWORD}, "name"),
    ("POST", "/users", {"name": "A", "email": "s\udfff@example.com", "password": PASSWORD}, "email"),
    ("POST", "/users", {"name": "A", "email": "s@example.com", "password": PASSWORD + "\ud800"}, "password"),
    ("PATCH", "/users/me", {"name": "\ud800"}, "name"),
    ("PATCH", "/users/me", {"email": "s@example.com", "current_password": PASSWORD + "\ud800"}, "current_password"),
    ("PATCH", "/users/me", {"password": "a new passphrase \udc00", "current_password": PASSWORD}, "password"),
    ("DELETE", "/users/me", {"current_password": "\ud800"}, "current_password"),
]


class CountingHasher(PasswordHasher):
    """The tests' cheap hasher, counting every hash and verification."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=64, parallelism=1)
        self.calls = 0

    def hash(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        return super().hash(*args, **kwargs)

    def verify(self, *args: Any, **kwargs: Any) -> bool:
        self.calls += 1
        return super().verify(*args, **kwargs)


@pytest.mark.parametrize("method, path, body, field", SURROGATE_BODIES)
async def test_lone_surrogates_are_refused_before_any_work(app: Quart, client: Client, session: dict,
                                                           monkeypatch: pytest.MonkeyPatch, method: str,
                                                           path: str, body: dict, field: str) -> None:
    hasher = CountingHasher()
    monkeypatch.setattr(passwords, "_hasher", hasher)
    before = {**await snapshot(app), "throttle": await app.extensions["idp"].db["throttle"].count_documents({})}
    response = await send(client, method, path, json.dumps(body).encode(), {**JSON, **bearer(session["access_token"])})
    error = await assert_clean_error(response)
    assert error["error"] == "invalid_request"
    assert field in error["fields"] and field in error["error_description"]
    assert hasher.calls == 0
    assert {**await snapshot(app), "throttle": await app.extensions["idp"].db["throttle"].count_documents({})} == before
    assert await me_status(client, session["access_token"]) == 200


# -- form endpoints -------------------------------------------------------------------------

FORM_GARBAGE = [
    b"grant_type=password&grant_type=password",
    b"token=a&token=b",
    b"client_id=web&client_id=web",
    b"\xff\xfe=\xff",
    b"grant_type=%FF%FE",
    b"token=" + b"x" * 9000,
    b"grant_type=password&username=" + b"u" * 9000,
    b"%00=%00",
    # a lone surrogate, UTF-8-encoded: percent-escaped, raw, and in a parameter name
    b"grant_type=password&client_id=web&username=ann%40example.com&password=%ED%A0%80",
    b"grant_type=password&client_id=web&username=ann%40example.com&password=\xed\xa0\x80",
    b"token=%ED%B0%80&client_id=web",
    b"%ED%A0%80=x&token=y",
]


@pytest.mark.parametrize("path", FORM_ENDPOINTS)
@pytest.mark.parametrize("body", FORM_GARBAGE)
async def test_malformed_forms(app: Quart, client: Client, ann: dict, path: str, body: bytes) -> None:
    before = await snapshot(app)
    response = await send(client, "POST", path, body, {**FORM, **basic("service")})
    error = await assert_clean_error(response, (400, 401))
    assert error["error"] in ("invalid_request", "invalid_client", "unsupported_grant_type")
    assert await snapshot(app) == before


@pytest.mark.parametrize("path", FORM_ENDPOINTS)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
async def test_wrong_content_type_for_forms(client: Client, path: str, content_type: str | None) -> None:
    headers = basic("service")
    if content_type:
        headers["Content-Type"] = content_type
    response = await send(client, "POST", path, b"grant_type=client_credentials&token=x", headers)
    assert (await assert_clean_error(response))["error"] == "invalid_request"


@pytest.mark.parametrize("path", FORM_ENDPOINTS)
async def test_a_duplicated_parameter_changes_nothing(app: Quart, client: Client, session: dict, path: str) -> None:
    body = f"token={session['refresh_token']}&token={session['refresh_token']}&client_id=web".encode()
    response = await send(client, "POST", path, body, FORM)
    assert (await assert_clean_error(response))["error"] == "invalid_request"
    assert await me_status(client, session["access_token"]) == 200


async def test_password_grant_username_that_looks_like_an_operator(client: Client, ann: dict) -> None:
    for username in ['{"$ne": null}', "ann@example.com[$ne]", "*", ".*"]:
        response = await send(client, "POST", "/oauth/token",
                              f"grant_type=password&client_id=web&username={username}&password=x".encode(), FORM)
        assert (await assert_clean_error(response))["error"] == "invalid_grant"


# -- body size ------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, content_type", [
    *[("POST", p, FORM["Content-Type"]) for p in FORM_ENDPOINTS],
    *[(m, p, "application/json") for m, p in JSON_ENDPOINTS],
])
async def test_bodies_over_the_limit_are_413(app: Quart, client: Client, session: dict, method: str, path: str,
                                             content_type: str) -> None:
    before = await snapshot(app)
    body = b"x" * (app.extensions["idp"].settings.max_body_bytes + 1)
    response = await send(client, method, path, body, {"Content-Type": content_type, **bearer(session["access_token"])})
    assert (await assert_clean_error(response, (413,)))["error"] == "request_too_large"
    assert await snapshot(app) == before


# -- hostile Bearer tokens --------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict, claims: dict) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _hs256(header: dict, claims: dict, secret: bytes) -> str:
    """The algorithm-confusion attack: HMAC with the server's public key as the secret."""
    signing_input = _unsigned(header, claims)[:-1]
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _claims(sub: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "http://localhost:8000", "aud": "http://localhost:8000", "sub": sub, "client_id": "web",
            "scope": "account", "iat": now, "exp": now + 600, "jti": "j" + str(now), **extra}


async def hostile_tokens(app: Quart, ann: dict, session: dict) -> dict[str, str]:
    ring = app.extensions["idp"].keyring
    kid = ring.active_kid
    claims = _claims(ann["id"], sid=jose_jwt.decode(session["access_token"], ring.verification_keys()).claims["sid"])
    foreign = RSAKey.generate_key(2048, parameters={"kid": kid})
    public_pem = RSAKey.import_key(ring.jwks()["keys"][0]).as_pem(private=False)
    ours = ring.signing_keys()
    sign = lambda header, body, key: jose_jwt.encode(header, body, key)  # noqa: E731
    return {
        "garbage": "not-a-token",
        "alg none": _unsigned({"alg": "none", "typ": "at+jwt", "kid": kid}, claims),
        "foreign key with our kid": sign({"alg": "RS256", "typ": "at+jwt", "kid": kid}, claims, foreign),
        "unknown kid": sign({"alg": "RS256", "typ": "at+jwt", "kid": "nope"}, claims,
                            RSAKey.generate_key(2048, parameters={"kid": "nope"})),
        "HS256 with our public key": _hs256({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims, public_pem),
        "wrong typ": sign({"alg": "RS256", "typ": "JWT"}, claims, ours),
        "wrong issuer": sign({"alg": "RS256", "typ": "at+jwt"}, {**claims, "iss": "https://evil"}, ours),
        "wrong audience": sign({"alg": "RS256", "typ": "at+jwt"}, {**claims, "aud": "other"}, ours),
        "tampered": session["access_token"][:-4] + ("AAAA" if not session["access_token"].endswith("AAAA") else "BBBB"),
        "no sid": sign({"alg": "RS256", "typ": "at+jwt"}, _claims(ann["id"]), ours),
        "unknown sid": sign({"alg": "RS256", "typ": "at+jwt"}, {**claims, "sid": "0" * 32}, ours),
        "huge": "a" * 20_000,
    }


async def test_hostile_bearer_tokens_are_refused_everywhere(app: Quart, client: Client, ann: dict,
                                                            session: dict) -> None:
    before = await snapshot(app)
    for name, token in (await hostile_tokens(app, ann, session)).items():
        for method in ("GET", "PATCH", "DELETE"):
            response = await client.open("/users/me", method=method, json={"name": "Mallory"},
                                         headers=bearer(token))
            expected = 403 if name == "no sid" else 401
            assert response.status_code == expected, (name, method, response.status_code)
            assert "error=" in response.headers["WWW-Authenticate"], name
        if name not in ("no sid", "huge"):
            assert await introspect(client, token) == {"active": False}, name
    assert await snapshot(app) == before
    user = await (await client.get("/users/me", headers=bearer(session["access_token"]))).get_json()
    assert user["name"] == "Ann"


async def test_expired_bearer_token(client: Client, session: dict, clock: ManualClock) -> None:
    clock.advance(901)
    response = await client.get("/users/me", headers=bearer(session["access_token"]))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "bearer"])
async def test_other_schemes_are_401_without_error_code(client: Client, header: str) -> None:
    response = await client.get("/users/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_a_large_body_is_413_even_without_a_token(client: Client, method: str) -> None:
    response = await client.open("/users/me", method=method, data=b"x" * 70_000,
                                 headers={"Content-Type": "application/json", "Content-Length": "70000"})
    assert (await assert_clean_error(response, (413,)))["error"] == "request_too_large"
