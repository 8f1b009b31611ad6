"""Browser sign-in: the authorization endpoint, its login and consent forms, and the
page a form's answer comes back to.

A checked authorization request that needs the person is kept on the server as an
interaction (idp.logins.interaction); the forms carry only its id, the step and the CSRF
token, so nothing a browser sends can drop `prompt=login`, `max_age`, a scope or the
redirect URI. What to do next (login, consent, a code, an error) is decided by
idp.logins.decision; this module only reads the request, shows pages and answers. Every
form post is answered with a 303 to a page (Back, Forward and reload never post again).
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from idp.accounts.emails import lookup_key
from idp.accounts.service import UserGone
from idp.accounts.throttling import SlowDown
from idp.http import devices, factor_hooks
from idp.http.answers import CONTINUE, answer_app
from idp.http.context import services
from idp.http.cookies import browser_session, see_other, set_session_cookie
from idp.http.csrf import require_csrf
from idp.http.display import client_display
from idp.http.forms import FORM, client_ip
from idp.http.pages import Link, PageError, describe_scopes, render_page
from idp.http.recovery import UNVERIFIED_EMAIL, forgot_url, resend_url
from idp.logins.decision import IssueCode, NeedConsent, NeedLogin, Outcome, Refuse, decide, needs_granted
from idp.logins.interaction import LIFETIME, new_interaction
from idp.logins.logins import CredentialsChanged
from idp.oauth.authlib.grants import WRONG_CREDENTIALS
from idp.oauth.authorization_request import (
    AuthorizationRequest, UntrustedRequest, parse,
)
from idp.ops.audit import audit
from idp.store.interactions import Interaction, Notice
from idp.logins.browser import BrowserSession

bp = Blueprint("authorize", __name__)

AUTHORIZE = "/oauth/authorize"
SIGNUP = "/oauth/signup"

UNVERIFIED = 403  # the status of the login page that asks to confirm the address first

START_AGAIN = (f"Sign-in pages last {int(LIFETIME.total_seconds() // 60)} minutes and work once. "
               "Go back to the app you were signing in to and start again from there.")


def continue_url(interaction: Interaction) -> str:
    """The page that shows an interaction's next step."""
    return f"{CONTINUE}?{urlencode({'interaction': interaction.interaction_id})}"


def signup_url(interaction: Interaction) -> str:
    return f"{SIGNUP}?{urlencode({'interaction': interaction.interaction_id})}"


def registration_open() -> bool:
    return services().settings.registration_open


def _parse(source: MultiDict[str, str]) -> AuthorizationRequest:
    values = {name: source.getlist(name) for name in source.keys()}
    return parse(values, services().registry.get)


def expired() -> PageError:
    return PageError(400, "This sign-in page has expired", START_AGAIN)


# -- the authorization endpoint ---------------------------------------------------------

@bp.get(AUTHORIZE)
async def authorize() -> Response:
    return await _start(_parse(request.args))


@bp.post(AUTHORIZE)
async def authorize_post() -> Response:
    """The login and consent forms post here (they carry `interaction`); anything else is
    an authorization request sent as a form (OIDC Core §3.1.2.1), answered as a GET is."""
    form = await request.form
    if "interaction" in form or "step" in form:
        return await _step(form)
    if request.mimetype != FORM:
        raise PageError(400, "This sign-in request can’t be used",
                        "The app sent its sign-in request in a form this server does not read. "
                        "Go back to the app and try again.")
    return await _start(_parse(form))


@bp.get(CONTINUE)
async def continue_interaction() -> Response:
    """Where every form's answer lands: the interaction's next step, or the app's answer."""
    interaction = await _interaction(request.args.get("interaction"))
    auth_request = _kept(interaction)
    browser = await browser_session()
    outcome = await _decide(interaction, auth_request, browser)
    return await _act(interaction, auth_request, browser, outcome, stored=True)


async def _start(auth_request: AuthorizationRequest) -> Response:
    """Decide on a new request before storing anything: a signed-in browser that needs no
    page gets its code without a write; only a request that needs the person is kept."""
    svc = services()
    interaction = new_interaction(auth_request.pending(), svc.logins.now())
    browser = await browser_session()
    outcome = await _decide(interaction, auth_request, browser)
    if isinstance(outcome, (NeedLogin, NeedConsent)):
        await svc.interactions.save(interaction)
        if request.method == "POST":
            return see_other(continue_url(interaction))
    return await _act(interaction, auth_request, browser, outcome, stored=False)


async def _decide(interaction: Interaction, auth_request: AuthorizationRequest,
                  browser: BrowserSession | None) -> Outcome:
    svc = services()
    client = auth_request.client
    granted = None
    if browser is not None and needs_granted(interaction, client):
        granted = await svc.consents.granted(browser.user_id, client.client_id)
    return decide(interaction, browser, granted, client, svc.logins.now())


async def _act(interaction: Interaction, auth_request: AuthorizationRequest, browser: BrowserSession | None,
               outcome: Outcome, *, stored: bool) -> Response:
    svc = services()
    if isinstance(outcome, NeedLogin):
        return await _login_page(interaction, auth_request)
    if isinstance(outcome, NeedConsent):
        return await _consent_page(interaction, auth_request, outcome.user_id)
    if stored and not await svc.interactions.finish(interaction):
        raise expired()  # answered already (a second tab, a reload racing the first)
    if isinstance(outcome, Refuse):
        raise auth_request.error(outcome.error, outcome.description)
    assert isinstance(outcome, IssueCode) and browser is not None
    code = await svc.codes.issue(
        client_id=auth_request.client.client_id, redirect_uri=auth_request.sent_redirect_uri, scope=auth_request.scope,
        nonce=auth_request.nonce, code_challenge=auth_request.code_challenge, browser=browser,
    )
    return await answer_app(auth_request.answer(svc.settings.issuer, code=code), auth_request.client.client_id)


async def _interaction(interaction_id: str | None) -> Interaction:
    found_one = await services().interactions.find(interaction_id)
    if found_one is None:
        raise expired()
    return found_one


def _kept(interaction: Interaction) -> AuthorizationRequest:
    client = services().registry.get(interaction.request.client_id)
    if client is None:
        raise UntrustedRequest("the client is no longer registered")
    return AuthorizationRequest.kept(client, interaction.request)


# -- pages ------------------------------------------------------------------------------

async def _login_page(interaction: Interaction, auth_request: AuthorizationRequest) -> Response:
    notice = interaction.notice if interaction.notice and interaction.notice.form == "login" else None
    display = client_display(auth_request.client.client_id)
    email = (notice.email if notice else None) or auth_request.login_hint
    passkeys = services().passkeys.enabled  # the passkey button and the e-mail field's autofill
    response = await render_page(
        "login.html", status=notice.status if notice else 200, form_targets=[auth_request.redirect_uri],
        scripts=passkeys, passkeys=passkeys,
        images=[display.logo_uri] if display and display.logo_uri else [], action=AUTHORIZE,
        hidden={"interaction": interaction.interaction_id, "step": "login"},
        email=email, error=notice.message if notice else None, client=display,
        client_name=display.name if display else auth_request.client.client_id,
        signup_url=signup_url(interaction) if registration_open() else None,
        forgot_url=forgot_url(email), resend_url=resend_url(email) if notice and notice.status == UNVERIFIED else None,
    )
    if notice and notice.retry_after:
        response.headers["Retry-After"] = str(notice.retry_after)
    return response


async def _consent_page(interaction: Interaction, auth_request: AuthorizationRequest, user_id: str) -> Response:
    try:
        user = await services().accounts.get(user_id)
    except UserGone:
        return await _login_page(interaction, auth_request)
    display = client_display(auth_request.client.client_id)
    return await render_page(
        "consent.html", form_targets=[auth_request.redirect_uri],
        images=[display.logo_uri] if display and display.logo_uri else [], action=AUTHORIZE,
        hidden={"interaction": interaction.interaction_id, "step": "consent"}, client=display,
        client_name=display.name if display else auth_request.client.client_id,
        scopes=describe_scopes(auth_request.scope), user=user.email,
    )


# -- the forms --------------------------------------------------------------------------

async def _step(form: MultiDict[str, str]) -> Response:
    await require_csrf()
    interaction = await _interaction(form.get("interaction"))
    auth_request = _kept(interaction)
    step = form.get("step")
    if step == "login":
        return await _login(interaction, form)
    if step == "consent":
        return await _consent(interaction, auth_request, form)
    if step == "passkey":  # the login page's "sign in with a passkey"
        signed = await factor_hooks.passkey_sign_in(form)
        return await signed_in(interaction, signed.user_id, signed.stamp, amr=signed.amr)
    raise PageError(400, "This form can’t be accepted", "The form did not say what it was for. "
                    "Go back to the app and start signing in again.")


async def _login(interaction: Interaction, form: MultiDict[str, str]) -> Response:
    """The login form: checked and throttled exactly as the password grant, with one
    message for an unknown e-mail and a wrong password."""
    svc = services()
    email, password = form.get("email", ""), form.get("password", "")
    if not email or not password:
        return await back_with(interaction, Notice(message="Enter your e-mail address and password.", email=email))
    email_key = lookup_key(email)
    try:
        credentials = await svc.password_check(email_key, password, client_ip(), known_device=devices.known(email_key))
    except SlowDown as exc:
        return await back_with(interaction, throttled_notice(email, exc.retry_after))
    if credentials is None:
        return await back_with(interaction, Notice(message=WRONG_CREDENTIALS, email=email))
    if not await svc.verification.may_sign_in(credentials.user_id):  # after the right password only
        return await back_with(interaction, unverified_notice(email))
    # an account with an authenticator app or a passkey is asked for it first (idp.http.second_step)
    asked = await factor_hooks.begin_if_needed(credentials, {"kind": "authorize",
                                                             "interaction": interaction.interaction_id})
    response = asked or await signed_in(interaction, credentials.user_id, credentials.stamp)
    devices.remember(response, email_key)
    return response


def unverified_notice(email: str) -> Notice:
    """IDP_REQUIRE_VERIFIED_EMAIL: say so, and offer to send the message again."""
    return Notice(status=UNVERIFIED, email=email, message=UNVERIFIED_EMAIL)


def throttled_notice(email: str, retry_after: int, form: str = "login") -> Notice:
    minutes = max(1, math.ceil(retry_after / 60))
    return Notice(form=form, status=429, retry_after=retry_after, email=email,
                  message=f"Too many attempts to sign in to this account. Try again in {minutes} "
                          f"minute{'s' if minutes > 1 else ''}.")


async def back_with(interaction: Interaction, notice: Notice) -> Response:
    """Back to the interaction's page, with what it must say."""
    if await services().interactions.tell(interaction, notice) is None:
        raise expired()
    return see_other(signup_url(interaction) if notice.form == "signup" else continue_url(interaction))


async def signed_in(interaction: Interaction, user_id: str, stamp: str,
                    amr: tuple[str, ...] = ("pwd",)) -> Response:
    """Start a browser session for a sign-in just checked (a password, with its second
    step if any, or a passkey: amr), note it on the interaction (which satisfies
    prompt=login and max_age for this browser only), and go on."""
    svc = services()
    previous = await browser_session()
    try:
        cookie, browser = await svc.browser.start(user_id, stamp, amr)
    except CredentialsChanged:
        return await back_with(interaction, Notice(message=WRONG_CREDENTIALS))
    if previous is not None and previous.sid != browser.sid:
        await svc.browser.replace(previous, browser)
    audit("login.succeeded", user_id=user_id, sid=browser.sid, via="browser", methods=list(amr))
    await svc.interactions.signed_in(interaction, browser.sid)
    response = see_other(continue_url(interaction))
    set_session_cookie(response, cookie)
    return response


async def _consent(interaction: Interaction, auth_request: AuthorizationRequest,
                   form: MultiDict[str, str]) -> Response:
    svc = services()
    browser = await browser_session()
    if browser is None:
        return see_other(continue_url(interaction))  # signed out meanwhile: the login page
    decision = form.get("decision")
    if decision == "deny":
        if not await svc.interactions.finish(interaction):
            raise expired()
        raise auth_request.error("access_denied", "The user did not allow the app access.")
    if decision != "allow":
        raise PageError(400, "This form can’t be accepted", "The form did not say whether you allow the app. "
                        "Go back and choose Allow or Deny.", Link(continue_url(interaction), "Go back"))
    await svc.consents.grant(browser.user_id, auth_request.client.client_id, auth_request.scope.split())
    if await svc.interactions.consented(interaction, browser.user_id) is None:
        raise expired()
    return see_other(continue_url(interaction))
