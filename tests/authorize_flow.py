"""Driving browser sign-in through Quart's test client: what a browser does (follow the
form a page holds, with its hidden fields and cookies) and what an app does (PKCE, the
code exchange, checking the ID token)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from quart.typing import TestClientProtocol

from tests.helpers import PASSWORD, basic, post_form

WEBAPP = {"client_id": "webapp", "client_secret": "webapp-secret-0123456789",
          "token_endpoint_auth_method": "client_secret_basic",
          "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile email account",
          "redirect_uris": ["https://app.example.com/callback", "https://app.example.com/other"],
          "post_logout_redirect_uris": ["https://app.example.com/signed-out"]}
SPA = {"client_id": "spa", "client_secret": None, "token_endpoint_auth_method": "none",
       "grant_types": ["authorization_code", "refresh_token"], "scope": "openid profile email",
       "redirect_uris": ["http://localhost:5173/callback"],
       "post_logout_redirect_uris": ["http://localhost:5173/"]}
NATIVE = {"client_id": "native", "client_secret": None, "token_endpoint_auth_method": "none",
          "grant_types": ["authorization_code"], "scope": "openid email",
          "redirect_uris": ["com.example.app:/callback"]}
MINE = {"client_id": "mine", "client_secret": None, "token_endpoint_auth_method": "none", "first_party": True,
        "grant_types": ["authorization_code", "refresh_token"], "scope": "openid account",
        "redirect_uris": ["https://mine.example.com/callback"]}
BROWSER_CLIENTS = [WEBAPP, SPA, NATIVE, MINE]
CLIENTS_BY_ID = {c["client_id"]: c for c in BROWSER_CLIENTS}
ISSUER = "http://localhost:8000"

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')
_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


def pkce() -> tuple[str, str]:
    """(code_verifier, its S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(client_id: str = "webapp", challenge: str | None = None, **extra: str | None) -> dict[str, str]:
    """A valid authorization request; extra values override (None leaves one out)."""
    params: dict[str, str | None] = {
        "response_type": "code", "client_id": client_id,
        "redirect_uri": CLIENTS_BY_ID[client_id]["redirect_uris"][0] if client_id in CLIENTS_BY_ID else None,
        "scope": "openid profile email" if client_id in ("webapp", "spa") else None,
        "state": "st-" + secrets.token_hex(4), "nonce": "n-" + secrets.token_hex(4),
        "code_challenge": challenge or pkce()[1], "code_challenge_method": "S256",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def authorize_url(params: dict[str, str]) -> str:
    return f"/oauth/authorize?{urlencode(params)}"


async def page_form(response: Any) -> tuple[str, dict[str, str]]:
    """(the action, the hidden fields) of the form a page holds."""
    text = await response.get_data(as_text=True)
    text = text[:text.find("</form>") + 1 or None]  # the first form: the page's main one
    action = _ACTION.search(text)
    assert action, text
    return html.unescape(action[1]), {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(text)}


async def follow(client: TestClientProtocol, response: Any, **get: Any) -> Any:
    """Follow this server's own redirects as a browser does (a form's 303 to the page
    that shows the next step); stop at a redirect to an app, or at a page."""
    while response.status_code in (302, 303) and response.headers["Location"].startswith("/"):
        response = await client.get(response.headers["Location"], **get)
    return response


async def submit(client: TestClientProtocol, page: Any, follow_redirects: bool = True, **fields: str) -> Any:
    """Post the page's form as a browser would: its hidden fields plus what the person typed;
    every form is answered with a 303, which is followed unless told not to."""
    action, hidden = await page_form(page)
    response = await post_form(client, action, {**hidden, **fields})
    if follow_redirects:
        assert response.status_code in (303, 400, 403), response.status_code
        return await follow(client, response)
    return response


def answer(response: Any) -> dict[str, str]:
    """The query of the redirect to the app (302 from a GET, 303 from a form)."""
    assert response.status_code in (302, 303), response.status_code
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


async def sign_in(client: TestClientProtocol, params: dict[str, str], email: str = "ann@example.com",
                  password: str = PASSWORD, allow: bool = True) -> Any:
    """From the authorization request to the redirect back to the app: sign in on the
    login page (when shown), allow on the consent page (when shown)."""
    response = await client.get(authorize_url(params))
    if response.status_code == 200 and b'name="password"' in await response.get_data():
        response = await submit(client, response, email=email, password=password)
    if response.status_code == 200 and b'name="decision"' in await response.get_data():
        response = await submit(client, response, decision="allow" if allow else "deny")
    return response


async def redeem(client: TestClientProtocol, code: str, verifier: str | None, client_id: str = "webapp",
                 redirect_uri: str | None = "", **extra: str) -> Any:
    """The app's code exchange; redirect_uri "" means the client's first registered one."""
    entry = CLIENTS_BY_ID[client_id]
    data = {"grant_type": "authorization_code", "code": code, **extra}
    if redirect_uri == "":
        redirect_uri = entry["redirect_uris"][0]
    if redirect_uri is not None:
        data["redirect_uri"] = redirect_uri
    if verifier is not None:
        data["code_verifier"] = verifier
    if entry["client_secret"] is None:
        return await post_form(client, "/oauth/token", {**data, "client_id": client_id})
    return await post_form(client, "/oauth/token", data, basic(client_id, entry["client_secret"]))


async def tokens_for(client: TestClientProtocol, client_id: str = "webapp", **extra: str | None) -> dict[str, Any]:
    """Sign ann in through the browser for client_id and redeem the code: the token response,
    with the request's nonce under "_nonce"."""
    verifier, challenge = pkce()
    params = authorize_params(client_id, challenge, **extra)
    code = answer(await sign_in(client, params))["code"]
    response = await redeem(client, code, verifier, client_id)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return {**await response.get_json(), "_nonce": params.get("nonce")}


async def verify_id_token(client: TestClientProtocol, id_token: str, client_id: str) -> dict[str, Any]:
    """What a relying party does: the JWKS, signature, iss, aud, exp (PyJWT)."""
    jwks = await (await client.get("/.well-known/jwks.json")).get_json()
    header = jwt.get_unverified_header(id_token)
    assert header["typ"] == "JWT" and header["alg"] == "RS256"
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    return jwt.decode(id_token, key, algorithms=["RS256"], audience=client_id, issuer=ISSUER,
                      options={"require": ["exp", "iat", "iss", "aud", "sub", "auth_time"]})


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()

