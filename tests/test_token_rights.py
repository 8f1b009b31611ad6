"""Which tokens a client may introspect or revoke (RFC 7662 §4, RFC 7009 §2.1): its own,
always; other clients' access tokens only when registered with "introspection": true;
other clients' refresh tokens never; anything else is answered as an unknown token."""

from __future__ import annotations

from typing import Any

from quart.typing import TestClientProtocol as Client

from tests.helpers import basic, introspect, login, me_status, post_form, refresh, revoke

UNKNOWN_REFRESH = "0" * 32 + "." + "A" * 43


async def _client_credentials(client: Client, client_id: str) -> dict[str, Any]:
    response = await post_form(client, "/oauth/token", {"grant_type": "client_credentials"}, basic(client_id))
    assert response.status_code == 200
    return await response.get_json()


async def test_a_client_without_introspection_rights_sees_only_its_own_tokens(client: Client, ann: dict) -> None:
    others = await login(client)  # web's
    own = await login(client, client_id="backend")
    assert await introspect(client, others["access_token"], client_id="backend") == {"active": False}
    assert await introspect(client, others["refresh_token"], client_id="backend") == {"active": False}
    assert (await introspect(client, own["access_token"], client_id="backend"))["active"] is True
    assert (await introspect(client, own["refresh_token"], client_id="backend"))["active"] is True


async def test_a_resource_server_sees_other_clients_access_tokens_but_never_their_refresh_tokens(
        client: Client, ann: dict) -> None:
    web = await login(client)
    backend = await login(client, client_id="backend")
    machine = await _client_credentials(client, "backend")
    for token in (web["access_token"], backend["access_token"], machine["access_token"]):
        assert (await introspect(client, token, client_id="service"))["active"] is True
    for token in (web["refresh_token"], backend["refresh_token"]):
        assert await introspect(client, token, client_id="service") == {"active": False}
    # the owner still sees it: the refusal is about the caller, not the token
    assert (await introspect(client, backend["refresh_token"], client_id="backend"))["active"] is True


async def test_revoking_another_clients_token_answers_as_unknown_and_changes_nothing(
        client: Client, ann: dict) -> None:
    web = await login(client)
    machine = await _client_credentials(client, "service")
    unknown = await revoke(client, UNKNOWN_REFRESH, client_id="backend")
    assert unknown.status_code == 200
    for token in (web["access_token"], web["refresh_token"], machine["access_token"]):
        for hint in ("access_token", "refresh_token"):
            response = await revoke(client, token, client_id="backend", token_type_hint=hint)
            assert (response.status_code, await response.get_data()) == (200, await unknown.get_data())
    assert await me_status(client, web["access_token"]) == 200
    assert (await introspect(client, machine["access_token"]))["active"] is True
    assert (await refresh(client, web["refresh_token"])).status_code == 200
