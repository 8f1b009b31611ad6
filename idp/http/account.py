"""The account page, /account: a person's own page, server-rendered.

Every form posts here with a CSRF token and is answered with a 303 redirect back to the
page (Back and reload never re-post). Without a browser session the page first asks the
person to sign in (its own sign-in entry, /account/sign-in, with the same second step as
the apps' sign-in). Changing the e-mail, the password or a second factor, and deleting the
account, need a password or passkey given within RECENT: the browser session's start, or
a later confirmation on this page (idp.store.factors `recent_auth`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


import segno
from markupsafe import Markup
from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from idp.accounts.emails import lookup_key
from idp.accounts.factors import FactorError, WrongCode
from idp.accounts.forms import InvalidForm, ProfileChange, validate
from idp.accounts.passkeys import Ceremony, PasskeyRefused
from idp.accounts.service import UserGone
from idp.accounts.throttling import SlowDown
from idp.http import devices, factor_hooks
from idp.http.context import services
from idp.http.cookies import browser_session, clear_session_cookie, see_other, set_session_cookie
from idp.http.csrf import require_csrf
from idp.http.forms import client_ip
from idp.http.pages import PageError, render_page
from idp.http.recovery import UNVERIFIED_EMAIL, forgot_url, resend_url
from idp.logins.browser import BrowserSession
from idp.logins.logins import CredentialsChanged
from idp.oauth.authlib.grants import WRONG_CREDENTIALS
from idp.ops.audit import audit
from idp.store.records import Login
from idp.store.users import EmailTaken, User

bp = Blueprint("account", __name__)

ACCOUNT = "/account"
SIGN_IN = "/account/sign-in"
AUTHENTICATOR = "/account/authenticator"
RECOVERY_CODES = "/account/recovery-codes"
DELETED = "/account/deleted"
RECENT = timedelta(minutes=5)
CODES_COOKIE_AGE = 300

NOTICES = {
    "name": "Your name was saved.",
    "email": "Your e-mail address was changed.",
    "password": "Your password was changed. Your other sign-ins have ended.",
    "confirmed": "Thank you. For the next 5 minutes you can change your sign-in details.",
    "totp_on": "The authenticator app is on.",
    "totp_off": "The authenticator app is off, and its recovery codes no longer work.",
    "passkey_added": "The passkey was added.",
    "passkey_removed": "The passkey was removed.",
    "signed_out": "That sign-in has ended.",
    "others_out": "You are signed out everywhere else.",
    "app_removed": "The app was removed: it no longer has access, and will ask you again.",
}
PROBLEMS = {
    "confirm": "First confirm it is you: enter your current password (or use a passkey), then try again.",
    "wrong_password": "That password is not right.",
    "slow_down": "Too many attempts. Try again later.",
    "email_taken": "Another account uses that e-mail address.",
    "invalid": "That was not accepted: ",
    "passkey": "The passkey was not accepted. Try again.",
    "totp_first": "Switch off the authenticator app first.",
}


class _SignInFirst(Exception):
    """No browser session: the sign-in comes first."""


@bp.errorhandler(_SignInFirst)
async def _sign_in_first(_: _SignInFirst) -> Response:
    return see_other(SIGN_IN)


@bp.get("/")
async def home() -> Response:
    return Response(status=302, headers={"Location": ACCOUNT, "Cache-Control": "no-store"})


# -- who is here ------------------------------------------------------------------------------

async def _signed_in_person() -> tuple[BrowserSession, User]:
    browser = await browser_session()
    if browser is None:
        raise _SignInFirst()
    try:
        return browser, await services().accounts.get(browser.user_id)
    except UserGone:
        raise _SignInFirst() from None


async def _recent(browser: BrowserSession) -> bool:
    svc = services()
    confirmed = await svc.factor_store.recent_auth(browser.sid)
    last = max(browser.created_at, confirmed) if confirmed else browser.created_at
    return svc.logins.now() - last <= RECENT


async def _confirmed(browser: BrowserSession, user: User, form: MultiDict[str, str]) -> bool:
    """Recently confirmed, or confirmed now by the form's current_password."""
    if await _recent(browser):
        return True
    password = form.get("current_password", "")
    if not password:
        return False
    svc = services()
    try:
        credentials = await svc.password_check(user.email_key, password, client_ip())
    except SlowDown:
        return False
    if credentials is None or credentials.user_id != user.user_id:
        return False
    await _note_confirmed(browser)
    return True


async def _note_confirmed(browser: BrowserSession) -> None:
    svc = services()
    now = svc.logins.now()
    await svc.factor_store.note_recent_auth(browser.sid, now, now + RECENT)


def _back(fragment: str = "", *, done: str | None = None, problem: str | None = None, detail: str = "") -> Response:
    query = f"?done={done}" if done else f"?problem={problem}" if problem else ""
    if detail and problem:
        query += "&detail=" + "".join(ch for ch in detail if ch.isalnum() or ch in "_-")[:40]
    return see_other(f"{ACCOUNT}{query}{'#' + fragment if fragment else ''}")


async def _form() -> MultiDict[str, str]:
    await require_csrf()
    form: MultiDict[str, str] = await request.form
    return form


# -- the page -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoginLine:
    sid: str
    app: str
    started: datetime
    refreshed: datetime
    current: bool


@dataclass(frozen=True)
class AppLine:
    client_id: str
    scopes: list[str]
    since: datetime


@bp.get(ACCOUNT)
async def page() -> Response:
    browser, user = await _signed_in_person()
    svc = services()
    factors = await svc.factors.status(user.user_id)
    logins = [LoginLine(s.sid, s.client_id if isinstance(s, Login) else "Browser sign-in", s.created_at,
                        s.issued_at if isinstance(s, Login) else s.created_at, s.sid == browser.sid)
              for s in await svc.logins.of_user(user.user_id)]
    apps = [AppLine(client_id, sorted(scopes), since)
            for client_id, (scopes, since) in sorted((await svc.consents.of_user(user.user_id)).items())]
    problem = request.args.get("problem")
    message = PROBLEMS.get(problem or "")
    if problem == "invalid":
        message = f"{message}{request.args.get('detail', '').replace('_', ' ')}."
    return await render_page(
        "account.html", scripts=svc.passkeys.enabled, user=user,
        email_verified=user.email_verified, resend_url=resend_url(user.email), factors=factors, logins=logins,
        apps=apps,
        recent=await _recent(browser), passkeys_on=svc.passkeys.enabled,
        notice=NOTICES.get(request.args.get("done", "")), problem=message,
    )


# -- sign-in for the account page --------------------------------------------------------------

@bp.get(SIGN_IN)
async def sign_in_page() -> Response:
    return await _sign_in_page()


async def _sign_in_page(*, email: str | None = None, error: str | None = None, status: int = 200,
                        unverified: bool = False) -> Response:
    passkeys = services().passkeys.enabled
    return await render_page("login.html", status=status, scripts=passkeys, passkeys=passkeys, action=SIGN_IN,
                             hidden={"step": "login"}, email=email, error=error, client_name="your account",
                             forgot_url=forgot_url(email), resend_url=resend_url(email) if unverified else None)


@bp.post(SIGN_IN)
async def sign_in_form() -> Response:
    form = await _form()
    if form.get("step") == "passkey":
        signed = await factor_hooks.passkey_sign_in(form)
        return await signed_in(signed.user_id, signed.stamp, signed.amr)
    email, password = form.get("email", ""), form.get("password", "")
    if not email or not password:
        return await _sign_in_page(email=email, error="Enter your e-mail address and password.", status=400)
    email_key = lookup_key(email)
    try:
        credentials = await services().password_check(email_key, password, client_ip(),
                                                       known_device=devices.known(email_key))
    except SlowDown as exc:
        response = await _sign_in_page(email=email, error="Too many attempts to sign in to this account. "
                                                          "Try again later.", status=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if credentials is None:
        return await _sign_in_page(email=email, error=WRONG_CREDENTIALS, status=400)
    if not await services().verification.may_sign_in(credentials.user_id):  # after the right password only
        return await _sign_in_page(email=email, error=UNVERIFIED_EMAIL, status=403, unverified=True)
    asked = await factor_hooks.begin_if_needed(credentials, {"kind": "account"})
    response = asked or await signed_in(credentials.user_id, credentials.stamp, ("pwd",))
    devices.remember(response, email_key)
    return response


async def signed_in(user_id: str, stamp: str, amr: tuple[str, ...]) -> Response:
    """Start the browser session of a finished sign-in, then show the account page."""
    svc = services()
    previous = await browser_session()
    try:
        cookie, browser = await svc.browser.start(user_id, stamp, amr)
    except CredentialsChanged:
        return await _sign_in_page(error=WRONG_CREDENTIALS, status=400)
    if previous is not None and previous.sid != browser.sid:
        await svc.browser.replace(previous, browser)
    audit("login.succeeded", user_id=user_id, sid=browser.sid, via="account", methods=list(amr))
    response = see_other(ACCOUNT)
    set_session_cookie(response, cookie)
    return response


@bp.post("/account/sign-out")
async def sign_out() -> Response:
    await _form()
    browser = await browser_session()
    if browser is not None:
        await services().browser.end(browser)
        audit("logout", user_id=browser.user_id, sid=browser.sid, ended="browser_session")
    response = see_other(SIGN_IN)
    clear_session_cookie(response)
    return response


# -- confirming it is you ---------------------------------------------------------------------------

@bp.post("/account/confirm")
async def confirm() -> Response:
    form = await _form()
    browser, user = await _signed_in_person()
    if form.get("credential"):
        try:
            await services().passkeys.authenticate(form.get("challenge_id", ""), browser.sid, form["credential"],
                                                   user_id=user.user_id)
        except PasskeyRefused:
            return _back("security", problem="passkey")
        await _note_confirmed(browser)
        return _back("security", done="confirmed")
    if not form.get("current_password"):
        return _back("security", problem="confirm")
    if not await _confirmed(browser, user, form):
        return _back("security", problem="wrong_password")
    return _back("security", done="confirmed")


async def passkey_ceremony(purpose: str) -> Ceremony:
    """A challenge for the account page's passkey steps (idp.http.second_step serves it)."""
    browser, user = await _signed_in_person()
    svc = services()
    if purpose == "register":
        if not await _recent(browser):
            raise PageError(403, "Confirm it is you first", PROBLEMS["confirm"])
        return await svc.passkeys.registration_options(user.user_id, user.email, user.name, browser.sid)
    return await svc.passkeys.authentication_options(browser.sid, user_id=user.user_id)


# -- profile -------------------------------------------------------------------------------------------

@bp.post("/account/name")
async def change_name() -> Response:
    form = await _form()
    browser, user = await _signed_in_person()
    try:
        change = validate(ProfileChange, {"name": form.get("name", "")})
    except InvalidForm as exc:
        return _back("profile", problem="invalid", detail="name " + exc.fields.get("name", ""))
    await services().accounts.change(user.user_id, browser.sid, change, client_ip())
    return _back("profile", done="name")


@bp.post("/account/email")
async def change_email() -> Response:
    return await _credentials_change("email", form=await _form())


@bp.post("/account/password")
async def change_password() -> Response:
    return await _credentials_change("password", form=await _form())


async def _credentials_change(field: str, form: MultiDict[str, str]) -> Response:
    browser, user = await _signed_in_person()
    if not await _confirmed(browser, user, form):
        return _back(field, problem="confirm" if not form.get("current_password") else "wrong_password")
    value = form.get("email" if field == "email" else "new_password", "")
    try:
        change = validate(ProfileChange, {field: value})
    except InvalidForm as exc:
        return _back(field, problem="invalid", detail=f"{field} " + next(iter(exc.fields.values()), ""))
    try:
        await services().accounts.change_confirmed(user.user_id, browser.sid, change)
    except EmailTaken:
        return _back(field, problem="email_taken")
    return _back(field, done=field)


# -- authenticator app and recovery codes --------------------------------------------------------

@bp.post("/account/authenticator/begin")
async def authenticator_begin() -> Response:
    form = await _form()
    browser, user = await _signed_in_person()
    if not await _confirmed(browser, user, form):
        return _back("security", problem="confirm")
    try:
        await services().factors.begin_totp(user.user_id, user.email)
    except FactorError:
        return _back("security", problem="totp_first")
    return see_other(AUTHENTICATOR)


@bp.get(AUTHENTICATOR)
async def authenticator_page() -> Response:
    _, user = await _signed_in_person()
    enrolment = await services().factors.pending_totp(user.user_id, user.email)
    if enrolment is None:
        return see_other(f"{ACCOUNT}#security")
    qr = segno.make(enrolment.uri, error="m")
    svg = Markup(qr.svg_inline(scale=5, border=2, dark="#000", light="#fff", title="QR code of the key"))
    grouped = " ".join(enrolment.secret[i:i + 4] for i in range(0, len(enrolment.secret), 4))
    return await render_page("authenticator.html", qr=svg, secret=grouped,
                             error="That code is not right. Check your phone's clock and try the next code."
                             if request.args.get("problem") == "code" else None)


@bp.post("/account/authenticator/confirm")
async def authenticator_confirm() -> Response:
    form = await _form()
    browser, user = await _signed_in_person()
    try:
        codes = await services().factors.confirm_totp(user.user_id, form.get("code", ""))
    except WrongCode:
        return see_other(f"{AUTHENTICATOR}?problem=code")
    except FactorError:
        return _back("security")
    return _show_codes(codes, browser)


@bp.post("/account/authenticator/disable")
async def authenticator_disable() -> Response:
    form = await _form()
    browser, user = await _signed_in_person()
    if not await _confirmed(browser, user, form):
        return _back("security", problem="confirm")
    await services().factors.disable_totp(user.user_id)
    return _back("security", done="totp_off")


@bp.post("/account/recovery-codes/renew")
async def recovery_renew() -> Response:
    form = await _form()
    browser, user = await _signed_in_person()
    if not await _confirmed(browser, user, form):
        return _back("security", problem="confirm")
    try:
        codes = await services().factors.renew_recovery_codes(user.user_id)
    except FactorError:
        return _back("security")
    return _show_codes(codes, browser)


def _codes_cookie() -> str:
    return "__Host-idp-codes" if services().settings.issuer.startswith("https://") else "idp-codes"


def _show_codes(codes: list[str], browser: BrowserSession) -> Response:
    """Send the new codes to the page that shows them once, sealed in a short-lived cookie."""
    response = see_other(RECOVERY_CODES)
    secure = services().settings.issuer.startswith("https://")
    response.set_cookie(_codes_cookie(), services().factors.seal_for_display(codes, browser.sid),
                        max_age=CODES_COOKIE_AGE, path="/", secure=secure, httponly=True, samesite="Strict")
    return response


@bp.get(RECOVERY_CODES)
async def recovery_codes_page() -> Response:
    browser, _ = await _signed_in_person()
    sealed = request.cookies.get(_codes_cookie())
    codes = services().factors.open_for_display(sealed, browser.sid) if sealed else None
    if codes is None:
        return see_other(f"{ACCOUNT}#security")
    response = await render_page("recovery_codes.html", codes=codes)
    secure = services().settings.issuer.startswith("https://")
    response.delete_cookie(_codes_cookie(), path="/", secure=secure, httponly=True, samesite="Strict")
    return response


# -- passkeys -------------------------------------------------------------------------------------

@bp.post("/account/passkeys/add")
async def passkey_add() -> Response:
    form = await _form()
    browser, user = await _signed_in_person()
    if not await _recent(browser):
        return _back("passkeys", problem="confirm")
    try:
        await services().passkeys.register(user.user_id, form.get("challenge_id", ""), browser.sid,
                                           form.get("credential", ""), form.get("name", ""))
    except PasskeyRefused:
        return _back("passkeys", problem="passkey")
    return _back("passkeys", done="passkey_added")


@bp.post("/account/passkeys/remove")
async def passkey_remove() -> Response:
    form = await _form()
    browser, user = await _signed_in_person()
    if not await _confirmed(browser, user, form):
        return _back("passkeys", problem="confirm")
    await services().passkeys.remove(user.user_id, form.get("passkey", ""))
    return _back("passkeys", done="passkey_removed")


# -- where you are signed in, and apps you allowed ----------------------------------------------

@bp.post("/account/logins/end")
async def end_login() -> Response:
    form = await _form()
    browser, user = await _signed_in_person()
    ended = await services().logins.end_one_of(user.user_id, form.get("login", ""))
    if ended is not None:
        audit("logout", user_id=user.user_id, sid=ended.sid, ended="from_account_page")
        if ended.sid == browser.sid:
            return see_other(SIGN_IN)
    return _back("logins", done="signed_out")


@bp.post("/account/logins/end-others")
async def end_other_logins() -> Response:
    await _form()
    browser, user = await _signed_in_person()
    ended = await services().logins.end_others_of(user.user_id, browser.sid)
    audit("logout", user_id=user.user_id, sid=browser.sid, ended="all_others", count=ended)
    return _back("logins", done="others_out")


@bp.post("/account/apps/remove")
async def remove_app() -> Response:
    form = await _form()
    _, user = await _signed_in_person()
    svc = services()
    client_id = form.get("client_id", "")
    await svc.consents.revoke(user.user_id, client_id)
    ended = await svc.logins.end_client_of(user.user_id, client_id)
    audit("logout", user_id=user.user_id, client_id=client_id, ended="app_removed", count=ended)
    return _back("apps", done="app_removed")


# -- deleting the account --------------------------------------------------------------------------

@bp.post("/account/delete")
async def delete_account() -> Response:
    form = await _form()
    browser, user = await _signed_in_person()
    if not await _confirmed(browser, user, form):
        return _back("delete", problem="confirm" if not form.get("current_password") else "wrong_password")
    await services().accounts.remove(user)  # its logins, consents and second factors go with it
    response = see_other(DELETED)
    clear_session_cookie(response)
    return response


@bp.get(DELETED)
async def deleted() -> Response:
    return await render_page("account_deleted.html")


