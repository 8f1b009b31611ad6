"""Browser sign-in: the authorization endpoint and its forms (login, consent, sign-up),
userinfo, and RP-initiated logout (CONTRACT "Browser sign-in").

The pending authorization request travels through the forms as hidden fields and is
checked again, whole, on every POST: nothing about it is kept on the server until a
code is issued. Every form carries a CSRF token (idp.csrf), which also stops login CSRF.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, current_app, jsonify, request
from werkzeug.datastructures import MultiDict

from idp.http.context import services
from idp.accounts.service import UserGone
from idp.http.forms import client_ip
from idp.http.recovery import FORGOT_PATH, RESEND_PATH
from idp.ops.audit import audit
from idp.http.csrf import require_csrf
from idp.accounts.emails import lookup_key
from idp.http.errors import ApiError, invalid_token, no_token
from idp.oauth.authorization_request import AuthorizationError, AuthorizationRequest, parse
from idp.oauth.authlib.grants import WRONG_CREDENTIALS
from idp.oauth.authlib.models import Client
from idp.oauth.oidc import read_id_token_hint, userinfo_claims
from idp.logins.service import CredentialsChanged
from idp.http.pages import PageError, describe_scopes, render_page
from idp.oauth.protocol import OPENID_SCOPE
from idp.accounts.forms import InvalidForm, Registration, validate
from idp.store.logins import Session
from idp.store.users import EmailTaken
from idp.accounts.throttling import SlowDown

bp = Blueprint("authorize", __name__)

AUTHORIZE = "/oauth/authorize"
SIGNUP = "/oauth/signup"
LOGOUT = "/oauth/logout"


def session_cookie_name() -> str:
    # __Host- (under https) keeps a sibling subdomain from planting a session of its own
    return "__Host-idp-session" if services().settings.issuer.startswith("https://") else "idp-session"


def _set_session_cookie(response: Response, value: str) -> None:
    secure = services().settings.issuer.startswith("https://")
    response.set_cookie(session_cookie_name(), value, path="/", secure=secure, httponly=True, samesite="Lax")


def _clear_session_cookie(response: Response) -> None:
    secure = services().settings.issuer.startswith("https://")
    response.delete_cookie(session_cookie_name(), path="/", secure=secure, httponly=True, samesite="Lax")


async def _browser_session() -> Session | None:
    return await services().browser.find(request.cookies.get(session_cookie_name()))


def _registration_open() -> bool:
    """IDP_SELF_REGISTRATION, where this version has it; open otherwise."""
    return services().settings.registration_open


def _redirect(location: str) -> Response:
    return Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _parse(source: MultiDict[str, str]) -> AuthorizationRequest:
    values = {name: source.getlist(name) for name in source.keys()}
    return parse(values, services().tokens.client)


@bp.errorhandler(AuthorizationError)
async def _authorization_error(error: AuthorizationError) -> Response:
    issuer = services().settings.issuer
    return _redirect(error.request.answer(issuer, error=error.error, error_description=error.description))


# -- the authorization endpoint ---------------------------------------------------------

@bp.get(AUTHORIZE)
async def authorize() -> Response:
    return await _proceed(_parse(request.args), await _browser_session())


@bp.post(AUTHORIZE)
async def authorize_form() -> Response:
    await require_csrf()
    form = await request.form
    auth_request = _parse(form)
    step = form.get("step")
    if step == "login":
        return await _login(auth_request, form)
    if step == "consent":
        return await _consent(auth_request, form)
    raise PageError(400, "This form cannot be accepted", "The form did not say what it was for.")


async def _proceed(auth_request: AuthorizationRequest, browser: Session | None, *,
                   signed_in_now: bool = False, consented_now: bool = False) -> Response:
    """Sign in if needed, ask for consent if needed, then answer the app with a code."""
    svc = services()
    if browser is None or (not signed_in_now and _needs_login(auth_request, browser)):
        if "none" in auth_request.prompt:
            raise auth_request.error("login_required", "The user is not signed in (prompt=none).")
        return await _login_page(auth_request)
    client = auth_request.client
    if not client.first_party and not consented_now:
        granted = await svc.consents.granted(browser.user_id, client.client_id)
        if "consent" in auth_request.prompt or not set(auth_request.scope.split()) <= granted:
            if "none" in auth_request.prompt:
                raise auth_request.error("consent_required",
                                         "The user has not allowed this app these scopes (prompt=none).")
            return await _consent_page(auth_request, browser)
    code = await svc.codes.issue(
        client=client, redirect_uri=auth_request.sent_redirect_uri, scope=auth_request.scope,
        nonce=auth_request.nonce, code_challenge=auth_request.code_challenge, browser=browser,
    )
    return _redirect(auth_request.answer(svc.settings.issuer, code=code))


def _needs_login(auth_request: AuthorizationRequest, browser: Session) -> bool:
    """prompt=login, or a max_age that the last password check is older than (OIDC Core §3.1.2.1)."""
    if "login" in auth_request.prompt:
        return True
    if auth_request.max_age is None:
        return False
    return (services().tokens.now() - browser.created_at).total_seconds() > auth_request.max_age


def _after_login(auth_request: AuthorizationRequest) -> AuthorizationRequest:
    """The request as the next form carries it once the password was checked: prompt=login
    and max_age are satisfied, and must not send the person back to the login form."""
    params = {k: v for k, v in auth_request.params.items() if k != "max_age"}
    prompt = auth_request.prompt - {"login"}
    if "prompt" in params:
        params["prompt"] = " ".join(sorted(prompt))
    return replace(auth_request, params=params, prompt=prompt, max_age=None)


async def _login_page(auth_request: AuthorizationRequest, *, email: str | None = None,
                      error: str | None = None, status: int = 200) -> Response:
    signup = f"{SIGNUP}?{urlencode(auth_request.params)}" if _registration_open() else None
    return await render_page(
        "login.html", status=status, form_targets=[auth_request.redirect_uri], action=AUTHORIZE,
        hidden={**auth_request.params, "step": "login"}, email=email or auth_request.login_hint,
        error=error, client_name=auth_request.client.client_id, signup_url=signup,
        forgot_url=f"{FORGOT_PATH}?{urlencode({'email': email})}" if email else FORGOT_PATH,
        resend_url=f"{RESEND_PATH}?{urlencode({'email': email})}" if status == 403 and email else None,
    )


async def _consent_page(auth_request: AuthorizationRequest, browser: Session) -> Response:
    try:
        user = await services().accounts.get(browser.user_id)
    except UserGone:
        return await _login_page(auth_request)
    return await render_page(
        "consent.html", form_targets=[auth_request.redirect_uri], action=AUTHORIZE,
        hidden={**auth_request.params, "step": "consent"}, client_name=auth_request.client.client_id,
        scopes=describe_scopes(auth_request.scope), user=user.email,
    )


async def _login(auth_request: AuthorizationRequest, form: MultiDict[str, str]) -> Response:
    """The login form: checked and throttled exactly as the password grant, with one
    message for an unknown e-mail and a wrong password."""
    svc = services()
    email, password = form.get("email", ""), form.get("password", "")
    if not email or not password:
        return await _login_page(auth_request, email=email, error="Enter your e-mail address and password.")
    try:
        credentials = await svc.password_check(lookup_key(email), password, client_ip())
    except SlowDown as exc:
        return await _throttled(auth_request, email, exc.retry_after)
    if credentials is None:
        return await _login_page(auth_request, email=email, error=WRONG_CREDENTIALS)
    if not await svc.verification.may_sign_in(credentials.user_id):  # after the right password only
        return await _unverified(auth_request, email)
    return await _signed_in(auth_request, credentials.user_id, credentials.stamp)


async def _unverified(auth_request: AuthorizationRequest, email: str) -> Response:
    """IDP_REQUIRE_VERIFIED_EMAIL: say so, and offer to send the message again."""
    response = await _login_page(auth_request, email=email, status=403,
                                 error="Confirm your e-mail address first: open the link in the message we sent "
                                       "to it, then sign in.")
    return response


async def _throttled(auth_request: AuthorizationRequest, email: str, retry_after: int) -> Response:
    minutes = max(1, math.ceil(retry_after / 60))
    response = await _login_page(
        auth_request, email=email, status=429,
        error=f"Too many attempts to sign in to this account. Try again in {minutes} "
              f"minute{'s' if minutes > 1 else ''}.")
    response.headers["Retry-After"] = str(retry_after)
    return response


async def _signed_in(auth_request: AuthorizationRequest, user_id: str, stamp: str) -> Response:
    """Start a browser session for a password just checked, then go on with the request."""
    svc = services()
    previous = await _browser_session()
    try:
        cookie, browser = await svc.browser.start(user_id, stamp)
    except CredentialsChanged:
        return await _login_page(auth_request, error=WRONG_CREDENTIALS)
    if previous is not None and previous.sid != browser.sid:
        await svc.browser.replace(previous, browser)
    audit("login.succeeded", user_id=user_id, sid=browser.sid, via="browser")
    response = await _proceed(_after_login(auth_request), browser, signed_in_now=True)
    _set_session_cookie(response, cookie)
    return response


async def _consent(auth_request: AuthorizationRequest, form: MultiDict[str, str]) -> Response:
    svc = services()
    browser = await _browser_session()
    if browser is None:
        return await _login_page(auth_request)
    decision = form.get("decision")
    if decision == "deny":
        raise auth_request.error("access_denied", "The user did not allow the app access.")
    if decision != "allow":
        raise PageError(400, "This form cannot be accepted", "The form did not say whether you allow the app.")
    await svc.consents.grant(browser.user_id, auth_request.client.client_id,
                                  auth_request.scope.split(), svc.tokens.now())
    return await _proceed(auth_request, browser, consented_now=True)


# -- sign-up from the login page ----------------------------------------------------------

def _require_registration_open() -> None:
    if not _registration_open():
        raise PageError(403, "Sign-up is closed", "Accounts on this server are made by its administrators.")


@bp.get(SIGNUP)
async def signup() -> Response:
    _require_registration_open()
    return await _signup_page(_parse(request.args))


async def _signup_page(auth_request: AuthorizationRequest, *, status: int = 200, error: str | None = None,
                       field_errors: dict[str, str] | None = None, name: str = "",
                       email: str | None = None) -> Response:
    return await render_page(
        "signup.html", status=status, form_targets=[auth_request.redirect_uri], action=SIGNUP,
        hidden=auth_request.params, name=name, email=email or auth_request.login_hint, error=error,
        field_errors=field_errors, client_name=auth_request.client.client_id,
        login_url=f"{AUTHORIZE}?{urlencode(auth_request.params)}",
    )


@bp.post(SIGNUP)
async def signup_form() -> Response:
    await require_csrf()
    _require_registration_open()
    form = await request.form
    auth_request = _parse(form)
    svc = services()
    body = {field: form.get(field, "") for field in ("name", "email", "password")}
    again = {"name": body["name"], "email": body["email"]}
    try:
        registration = validate(Registration, body)
        user = await svc.accounts.register(registration, client_ip())
    except InvalidForm as exc:
        return await _signup_page(auth_request, status=400, field_errors=exc.fields,
                                  error="Please correct the fields below.", **again)
    except EmailTaken:
        return await _signup_page(auth_request, status=409, **again,
                                  field_errors={"email": "An account with this e-mail address exists; sign in instead."})
    except SlowDown:
        return await _signup_page(auth_request, status=429, **again,
                                  error="Too many accounts were made from your network. Try again later.")
    try:
        credentials = await svc.password_check(user.email_key, registration.password, client_ip())
    except SlowDown as exc:
        return await _throttled(auth_request, user.email, exc.retry_after)
    if credentials is None:  # changed or deleted in the moment since
        return await _login_page(auth_request, email=user.email)
    if not await svc.verification.may_sign_in(credentials.user_id):
        return await _unverified(auth_request, user.email)
    return await _signed_in(auth_request, credentials.user_id, credentials.stamp)


# -- userinfo ---------------------------------------------------------------------------------

@bp.route("/oauth/userinfo", methods=["GET", "POST"])
async def userinfo() -> Response:
    """OIDC Core §5.3: the claims the access token's scope allows, for a token with `openid`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        raise no_token()
    svc = services()
    claims = await svc.tokens.live_access_claims(token.strip())
    if claims is None:
        raise invalid_token()
    scope = str(claims.get("scope", ""))
    if OPENID_SCOPE not in scope.split() or "sid" not in claims:
        raise ApiError(403, "insufficient_scope", "The access token needs the 'openid' scope and a user.",
                       headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'})
    try:
        user = await svc.accounts.get(claims["sub"])
    except UserGone:
        raise invalid_token() from None
    response = jsonify(userinfo_claims(user, scope))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- RP-initiated logout ------------------------------------------------------------------------

_LOGOUT_PARAMETERS = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")


def _logout_request(source: MultiDict[str, str]) -> tuple[Client | None, str | None, str | None, dict[str, Any] | None]:
    """(the client, the post-logout URI if registered for it, state, the hint's claims);
    raises PageError for anything that must not be acted on."""
    svc = services()
    for name in _LOGOUT_PARAMETERS:
        if len(source.getlist(name)) > 1:
            raise PageError(400, "This sign-out request cannot be used", f"The parameter {name} was sent twice.")
    hint, client_id = source.get("id_token_hint"), source.get("client_id")
    claims = None
    if hint:
        claims = read_id_token_hint(hint, svc.settings.issuer, svc.keyring)
        if claims is None or (client_id and client_id != claims["aud"]):
            raise PageError(400, "This sign-out request cannot be used",
                            "The app sent an ID token that this server did not issue to it.")
        client_id = claims["aud"]
    client = svc.tokens.client(client_id) if client_id else None
    uri = source.get("post_logout_redirect_uri")
    if uri is not None and (client is None or not client.check_post_logout_redirect_uri(uri)):
        raise PageError(400, "This sign-out request cannot be used",
                        "The app asked to send you to an address it has not registered for after sign-out, "
                        "so this server will not send you there.")
    return client, uri, source.get("state"), claims


@bp.get(LOGOUT)
async def logout() -> Response:
    """With a valid id_token_hint the app is known: sign out at once. Without one, anyone
    could have sent the browser here, so ask first (RP-Initiated Logout §2)."""
    client, uri, state, claims = _logout_request(request.args)
    if claims is None:
        hidden = {name: value for name, value in (("client_id", client.client_id if client else None),
                                                  ("post_logout_redirect_uri", uri), ("state", state))
                  if value is not None}
        return await render_page("logout.html", form_targets=[uri] if uri else [], action=LOGOUT,
                                 hidden=hidden, client_name=client.client_id if client else None)
    return await _sign_out(client, uri, state, claims)


@bp.post(LOGOUT)
async def logout_form() -> Response:
    await require_csrf()
    client, uri, state, claims = _logout_request(await request.form)
    return await _sign_out(client, uri, state, claims)


async def _sign_out(client: Client | None, uri: str | None, state: str | None,
                    claims: dict[str, Any] | None) -> Response:
    svc = services()
    browser = await _browser_session()
    if browser is not None:
        await svc.browser.end(browser)
        audit("logout", user_id=browser.user_id, sid=browser.sid, ended="browser_session")
    if claims is not None and isinstance(claims.get("sid"), str):
        # the login the ID token belongs to, even if this browser no longer has its session
        await svc.tokens.end_session(claims["sid"])
    if uri is not None:
        separator = "&" if "?" in uri else "?"
        response = _redirect(f"{uri}{separator}{urlencode({'state': state})}" if state is not None else uri)
    else:
        response = await render_page("signed_out.html", client_name=client.client_id if client else None)
    _clear_session_cookie(response)
    return response
