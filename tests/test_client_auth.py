"""Client authentication (RFC 6749 §2.3) at the token, revocation and introspection endpoints."""

from __future__ import annotations

import base64
import logging

import pytest
from quart.typing import TestClientProtocol as Client

from tests.helpers import PASSWORD, basic, introspect, post_form

ENDPOINTS = {
    "/oauth/token": {"grant_type": "client_credentials"},
    "/oauth/revoke": {"token": "some-token"},
    "/oauth/introspect": {"token": "some-token"},
}
ODD_SECRET = "a b+c% 0123456789"
ODD = {"client_id": "odd+app", "client_secret": ODD_SECRET, "token_endpoint_auth_method": "client_secret_basic",
       "grant_types": ["client_credentials"], "scope": "read"}
PLUS = {"client_id": "plus", "client_secret": "plus+secret+0123456789", "token_endpoint_auth_method":
        "client_secret_basic", "grant_types": ["client_credentials"], "scope": "read"}


def raw_basic(credentials: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}


async def assert_invalid_client(response: object) -> dict:
    assert response.status_code == 401, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["error"] == "invalid_client"
    assert "[" not in body["error_description"]  # a sentence, not a program's list
    return body


# -- malformed Basic credentials: 401, never a 500 ---------------------------------------------

@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("header", [
    raw_basic(b"\xff\xfe:\xff"),                 # not UTF-8
    raw_basic(b"service:\xc3"),                  # truncated UTF-8 in the secret
    raw_basic(b"no-colon"),
    raw_basic(b":service-secret-0123456789"),    # no client id
    {"Authorization": "Basic !!!"},              # not base64
    {"Authorization": "Basic c2VydmljZQ"},       # missing padding
    {"Authorization": "Basic"},
    {"Authorization": "basic " + base64.b64encode(b"\x80:\x80").decode()},
])
async def test_malformed_basic_credentials_are_invalid_client(client: Client, caplog: pytest.LogCaptureFixture,
                                                              path: str, header: dict) -> None:
    with caplog.at_level(logging.WARNING):
        response = await post_form(client, path, ENDPOINTS[path], header)
    await assert_invalid_client(response)
    assert response.headers["WWW-Authenticate"] == "Basic"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- one method per request ------------------------------------------------------------------------

async def test_basic_and_a_body_secret_together_are_refused(client: Client) -> None:
    data = {"grant_type": "client_credentials", "client_secret": "service-secret-0123456789"}
    await assert_invalid_client(await post_form(client, "/oauth/token", data, basic("service")))


async def test_a_failed_basic_does_not_fall_through_to_the_body_client_id(client: Client, ann: dict) -> None:
    data = {"grant_type": "password", "username": "ann@example.com", "password": PASSWORD, "client_id": "web"}
    await assert_invalid_client(await post_form(client, "/oauth/token", data, basic("backend", "wrong")))


async def test_basic_for_one_client_and_a_body_client_id_of_another_are_refused(client: Client, ann: dict) -> None:
    data = {"grant_type": "password", "username": "ann@example.com", "password": PASSWORD, "client_id": "web"}
    await assert_invalid_client(await post_form(client, "/oauth/token", data, basic("backend")))


async def test_a_body_client_id_that_repeats_the_basic_one_is_fine(client: Client) -> None:
    data = {"grant_type": "client_credentials", "client_id": "service"}
    response = await post_form(client, "/oauth/token", data, basic("service"))
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
async def test_one_method_per_request_at_revocation_and_introspection(client: Client, path: str) -> None:
    both = {"token": "x", "client_id": "poster", "client_secret": "poster-secret-0123456789"}
    await assert_invalid_client(await post_form(client, path, both, basic("service")))
    other = {"token": "x", "client_id": "poster"}
    await assert_invalid_client(await post_form(client, path, other, basic("service")))


# -- form-urlencoded Basic credentials (RFC 6749 §2.3.1, Appendix B) ---------------------------

@pytest.mark.parametrize("clients_file", [[ODD, PLUS]], indirect=True)
@pytest.mark.parametrize("client_id, secret", [
    ("odd%2Bapp", "a+b%2Bc%25+0123456789"),      # form-urlencoded, as x/oauth2, oauth4webapi and Nimbus send it
    ("odd+app", ODD_SECRET),                     # raw, as Authlib's and requests-oauthlib's clients send it
    ("odd%2Bapp", "a%20b%2Bc%25%200123456789"),  # percent-encoded
    ("plus", "plus+secret+0123456789"),          # raw, with "+" that must not become a space
    ("plus", "plus%2Bsecret%2B0123456789"),
])
async def test_basic_credentials_are_accepted_form_decoded_and_raw(client: Client, client_id: str,
                                                                   secret: str) -> None:
    header = raw_basic(f"{client_id}:{secret}".encode())
    response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials"}, header)
    assert response.status_code == 200, await response.get_data(as_text=True)


@pytest.mark.parametrize("clients_file", [[ODD]], indirect=True)
async def test_a_wrong_secret_is_wrong_in_every_reading(client: Client) -> None:
    header = raw_basic(b"odd%2Bapp:a+b%2Bc+0123456789")
    await assert_invalid_client(await post_form(client, "/oauth/token", {"grant_type": "client_credentials"}, header))


# -- what the answer says ------------------------------------------------------------------------

@pytest.mark.parametrize("unknown, wrong", [
    (basic("nobody", "some-secret"), basic("service", "some-secret")),
    ({"client_id": "nobody", "client_secret": "some-secret"}, {"client_id": "poster", "client_secret": "some-secret"}),
    ({"client_id": "nobody"}, {"client_id": "poster"}),  # a confidential client without its secret
])
async def test_an_unknown_client_and_a_wrong_secret_get_the_same_answer(client: Client, unknown: dict,
                                                                        wrong: dict) -> None:
    answers = []
    for credentials in (unknown, wrong):
        in_header = "Authorization" in credentials
        data = {"grant_type": "client_credentials", **({} if in_header else credentials)}
        response = await post_form(client, "/oauth/token", data, credentials if in_header else None)
        body = await assert_invalid_client(response)
        headers = sorted((k.lower(), v) for k, v in response.headers.items() if k.lower() != "x-request-id")
        answers.append((response.status_code, body, headers))
    assert answers[0] == answers[1]
    assert "does not exist" not in answers[0][1]["error_description"]


async def test_a_proven_client_with_the_wrong_method_is_told_which_to_use(client: Client) -> None:
    data = {"grant_type": "client_credentials", "client_id": "backend", "client_secret": "backend-secret-0123456789"}
    body = await assert_invalid_client(await post_form(client, "/oauth/token", data))
    assert body["error_description"] == "client 'backend' must authenticate with client_secret_basic."
    header = basic("poster")
    body = await assert_invalid_client(await post_form(client, "/oauth/token", {"grant_type": "client_credentials"},
                                                       header))
    assert body["error_description"] == "client 'poster' must authenticate with client_secret_post."


async def test_a_public_client_at_introspection_is_told_it_may_not(client: Client) -> None:
    body = await assert_invalid_client(await post_form(client, "/oauth/introspect", {"token": "x", "client_id": "web"}))
    assert "client 'web' may not use this endpoint" in body["error_description"]


async def test_no_client_authentication_at_all_says_what_to_send(client: Client) -> None:
    body = await assert_invalid_client(await post_form(client, "/oauth/token", {"grant_type": "client_credentials"}))
    assert "client_id" in body["error_description"]


async def test_the_basic_challenge_answers_basic_only(client: Client) -> None:
    response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials", "client_id": "nobody"})
    await assert_invalid_client(response)
    assert "WWW-Authenticate" not in response.headers
    response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials"}, basic("nobody", "x"))
    await assert_invalid_client(response)
    assert response.headers["WWW-Authenticate"] == "Basic"


async def test_a_public_client_may_send_basic_without_a_secret(client: Client) -> None:
    """requests-oauthlib sends a public client's id as Basic "web:"."""
    response = await post_form(client, "/oauth/revoke", {"token": "x"}, raw_basic(b"web:"))
    assert response.status_code == 200
    assert await introspect(client, "x") == {"active": False}
