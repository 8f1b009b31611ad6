"""A real relying party against a live `idp serve`: Authlib's own OAuth 2 client runs the
code flow with PKCE (S256) and a nonce, checks the ID token with the JWKS as OIDC Core
§3.1.3.7 says (signature, iss, aud, nonce, at_hash), then calls userinfo, refreshes and
revokes. The person's part (the login and consent forms) is played by an HTTP client
that follows the pages' forms, as a browser without JavaScript would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.authorize_flow import BROWSER_CLIENTS, WEBAPP, page_form
from tests.conftest import CLIENTS, start_server, stop_server
from tests.helpers import PASSWORD


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    clients = tmp_path / "browser-clients.json"
    clients.write_text(json.dumps(CLIENTS + BROWSER_CLIENTS))
    base, process = start_server(tmp_path, {"IDP_CLIENTS_FILE": str(clients), "IDP_WORKERS": "1"})
    yield base
    stop_server(process)


async def _person_signs_in(base: str, url: str) -> str:
    """Register, open the authorization URL, sign in, allow: the redirect back to the app."""
    async with httpx.AsyncClient(base_url=base) as person:
        registered = await person.post("/users", json={"name": "Ann", "email": "ann@example.com",
                                                       "password": PASSWORD})
        assert registered.status_code == 201
        page = await person.get(url)
        action, hidden = await page_form(_Page(page))
        posted = await person.post(action, data={**hidden, "email": "ann@example.com", "password": PASSWORD})
        assert posted.status_code == 303  # every form is answered with a redirect to a page
        page = await person.get(posted.headers["Location"])
        action, hidden = await page_form(_Page(page))
        posted = await person.post(action, data={**hidden, "decision": "allow"})
        assert posted.status_code == 303
        answer = await person.get(posted.headers["Location"])
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]


class _Page:
    """An httpx response where page_form expects a Quart one."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def get_data(self, as_text: bool = False) -> str:
        return self._response.text


async def test_authlib_client_code_flow_with_pkce_and_oidc(server: str) -> None:
    base = server
    discovery = httpx.get(f"{base}/.well-known/openid-configuration").json()
    nonce = generate_token(20)
    verifier = generate_token(48)
    async with AsyncOAuth2Client(
        client_id=WEBAPP["client_id"], client_secret=WEBAPP["client_secret"],
        token_endpoint_auth_method="client_secret_basic", scope="openid profile email",
        redirect_uri=WEBAPP["redirect_uris"][0], code_challenge_method="S256",
    ) as rp:
        url, state = rp.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier,
                                                 nonce=nonce)
        location = await _person_signs_in(base, url)
        callback = httpx.URL(location)
        assert callback.params["iss"] == base and callback.params["state"] == state  # RFC 9207
        token = await rp.fetch_token(discovery["token_endpoint"], authorization_response=location,
                                     code_verifier=verifier)

        jwks = KeySet.import_key_set(httpx.get(discovery["jwks_uri"]).json())
        decoded = jwt.decode(token["id_token"], jwks, algorithms=discovery["id_token_signing_alg_values_supported"])
        claims = CodeIDToken(decoded.claims, decoded.header,
                             options={"iss": {"essential": True, "value": base},
                                      "aud": {"essential": True, "value": WEBAPP["client_id"]},
                                      "nonce": {"essential": True, "value": nonce}},
                             params={"nonce": nonce, "access_token": token["access_token"],
                                     "client_id": WEBAPP["client_id"]})
        claims.validate()
        assert decoded.claims["at_hash"] and decoded.header["typ"] == "JWT"

        info = (await rp.get(discovery["userinfo_endpoint"])).json()
        assert info == {"sub": decoded.claims["sub"], "name": "Ann", "email": "ann@example.com",
                        "email_verified": False}
        assert (decoded.claims["email"], decoded.claims["email_verified"]) == ("ann@example.com", False)

        renewed = await rp.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
        assert renewed["refresh_token"] != token["refresh_token"]
        assert (await rp.get(discovery["userinfo_endpoint"])).status_code == 200  # the new access token

        revoked = await rp.revoke_token(discovery["revocation_endpoint"], renewed["refresh_token"],
                                        token_type_hint="refresh_token")
        assert revoked.status_code == 200
        assert (await rp.get(discovery["userinfo_endpoint"])).status_code == 401  # the login has ended


