"""email_verified in ID tokens and userinfo, and IDP_REQUIRE_VERIFIED_EMAIL on the login page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.authorize_flow import BROWSER_CLIENTS, authorize_params, authorize_url, submit, tokens_for, verify_id_token
from tests.conftest import CLIENTS
from tests.helpers import bearer, register


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(CLIENTS + BROWSER_CLIENTS))
    return path


async def test_email_verified_is_the_same_in_the_id_token_userinfo_and_users_me(
        app: Quart, client: Client, ann: dict[str, Any]) -> None:
    for verified in (False, True):
        tokens = await tokens_for(client, "webapp", scope="openid profile email account")
        claims = await verify_id_token(client, tokens["id_token"], "webapp")
        info = await (await client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))).get_json()
        me = await (await client.get("/users/me", headers=bearer(tokens["access_token"]))).get_json()
        assert claims["email_verified"] is info["email_verified"] is me["email_verified"] is verified
        assert claims["email"] == info["email"] == "ann@example.com"
        services = app.extensions["idp"]
        await services.verification.mark(await services.accounts.get(ann["id"]), by="administrator")


async def test_without_the_email_scope_the_id_token_names_no_address(client: Client, ann: dict[str, Any]) -> None:
    tokens = await tokens_for(client, "webapp", scope="openid")
    assert "email" not in await verify_id_token(client, tokens["id_token"], "webapp")


@pytest.mark.parametrize("settings_overrides", [{"require_verified_email": True}])
async def test_the_login_page_refuses_an_unverified_account_after_the_right_password_only(
        app: Quart, client: Client) -> None:
    await register(client)
    page = await client.get(authorize_url(authorize_params("webapp")))
    wrong = await submit(client, page, email="ann@example.com", password="not the password")
    assert "Confirm your e-mail" not in await wrong.get_data(as_text=True)
    page = await client.get(authorize_url(authorize_params("webapp")))
    refused = await submit(client, page, email="ann@example.com", password="correct horse battery staple")
    html = await refused.get_data(as_text=True)
    assert refused.status_code == 403 and "Confirm your e-mail address first" in html
    assert 'href="/account/verify/resend?email=ann%40example.com"' in html
    assert "idp-session" not in refused.headers.get("Set-Cookie", "")
