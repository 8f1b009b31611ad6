"""RP-initiated logout (OIDC RP-Initiated Logout 1.0), the end_session_endpoint.

A GET signs the browser out at once only when its `id_token_hint` is an unexpired ID
token of the person signed in in this browser: then the app that holds it speaks for
that person. Anything else (no hint, an expired one, another person's) could have been
sent by anyone, so the person is asked first (§2), and the answer ends this browser's
session only: never another person's login.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from idp.accounts.service import UserGone
from idp.http.context import services
from idp.http.cookies import browser_session, clear_session_cookie, found, see_other
from idp.http.csrf import require_csrf
from idp.http.display import client_display
from idp.http.pages import Link, PageError, render_page
from idp.oauth.clients import Client
from idp.oauth.oidc import read_id_token_hint
from idp.ops.audit import audit
from idp.logins.browser import BrowserSession

bp = Blueprint("logout", __name__)

LOGOUT = "/oauth/logout"
SIGNED_OUT = "/oauth/logout/done"

_LOGOUT_PARAMETERS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")
_CANNOT = "This sign-out link can’t be used"
_SIGN_OUT_HERE = Link(LOGOUT, "Sign out of this server")


@dataclass(frozen=True)
class LogoutRequest:
    client: Client | None
    uri: str | None  # the post-logout redirect URI, registered for the client
    state: str | None
    claims: dict[str, Any] | None  # the hint's, when one was sent and checked


def _logout_request(source: MultiDict[str, str]) -> LogoutRequest:
    """The request, checked; a PageError for anything that must not be acted on."""
    svc = services()
    for name in _LOGOUT_PARAMETERS:
        if len(source.getlist(name)) > 1:
            raise PageError(400, _CANNOT, "The app sent it with a part repeated. You are still signed in. "
                            "Go back to the app and sign out from there again, or sign out here.", _SIGN_OUT_HERE)
    hint, client_id = source.get("id_token_hint"), source.get("client_id")
    claims = None
    if hint:
        claims = read_id_token_hint(hint, svc.settings.issuer, svc.keyring)
        if claims is None or (client_id and client_id != claims["aud"]):
            raise PageError(400, _CANNOT, "The app sent a sign-out request this server can’t check, so "
                            "nothing was changed and you are still signed in. Go back to the app and try "
                            "again, or sign out here.", _SIGN_OUT_HERE)
        client_id = claims["aud"]
    client = svc.registry.get(client_id) if client_id else None
    uri = source.get("post_logout_redirect_uri")
    if uri is not None and (client is None or not client.check_post_logout_redirect_uri(uri)):
        raise PageError(400, _CANNOT, "The app asked to send you on to an address it hasn’t registered "
                        "with this server, so you won’t be sent there, and you are still signed in. You "
                        "can sign out here and then go back to the app yourself.", _SIGN_OUT_HERE)
    return LogoutRequest(client, uri, source.get("state"), claims)


def _names_this_person(claims: dict[str, Any] | None, browser: BrowserSession | None) -> bool:
    """An unexpired ID token of the person signed in in this browser."""
    if claims is None or browser is None:
        return False
    exp = claims.get("exp")
    live = isinstance(exp, int) and exp > services().logins.now().timestamp()
    return live and claims.get("sub") == browser.user_id


@bp.get(LOGOUT)
async def logout() -> Response:
    asked = _logout_request(request.args)
    browser = await browser_session()
    if asked.claims is not None and _names_this_person(asked.claims, browser):
        assert browser is not None
        sid = asked.claims.get("sid")
        # the login the ID token belongs to, this person's, first and on its own (its own
        # event), even if this browser's session no longer lists it
        if isinstance(sid, str) and await services().logins.end(sid):
            audit("logout", user_id=browser.user_id, sid=sid, client_id=asked.claims.get("aud"),
                  ended="login", via="id_token_hint")
        await _end(browser)
        if asked.uri is not None:
            response = found(_with_state(asked.uri, asked.state))
        else:
            response = await _signed_out_page(asked.client)
        clear_session_cookie(response)
        return response
    return await _confirmation_page(asked, browser)


async def _confirmation_page(asked: LogoutRequest, browser: BrowserSession | None) -> Response:
    hidden = {name: value for name, value in (("client_id", asked.client.client_id if asked.client else None),
                                              ("post_logout_redirect_uri", asked.uri), ("state", asked.state))
              if value is not None}
    user = None
    if browser is not None:
        try:
            user = (await services().accounts.get(browser.user_id)).email
        except UserGone:
            user = None
    display = client_display(asked.client.client_id) if asked.client else None
    return await render_page("logout.html", form_targets=[asked.uri] if asked.uri else [], action=LOGOUT,
                             hidden=hidden, client_name=display.name if display else None, user=user)


@bp.post(LOGOUT)
async def logout_form() -> Response:
    """The person confirmed: end this browser's session, nothing else."""
    await require_csrf()
    asked = _logout_request(await request.form)
    browser = await browser_session()
    if browser is not None:
        await _end(browser)
    if asked.uri is not None:
        response = see_other(_with_state(asked.uri, asked.state))
    else:
        query = f"?{urlencode({'client_id': asked.client.client_id})}" if asked.client else ""
        response = see_other(f"{SIGNED_OUT}{query}")
    clear_session_cookie(response)
    return response


@bp.get(SIGNED_OUT)
async def signed_out() -> Response:
    client_id = request.args.get("client_id")
    return await _signed_out_page(services().registry.get(client_id) if client_id else None)


async def _signed_out_page(client: Client | None) -> Response:
    display = client_display(client.client_id) if client else None
    return await render_page("signed_out.html", client_name=display.name if display else None,
                             client=display)


async def _end(browser: BrowserSession) -> None:
    await services().browser.end(browser)
    audit("logout", user_id=browser.user_id, sid=browser.sid, ended="browser_session")


def _with_state(uri: str, state: str | None) -> str:
    if state is None:
        return uri
    separator = "&" if "?" in uri else "?"
    return f"{uri}{separator}{urlencode({'state': state})}"
