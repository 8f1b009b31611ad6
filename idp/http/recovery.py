"""Account recovery and verified e-mail: the JSON endpoints, and the pages the links in
the messages open.

A link's GET only shows a form (mail scanners open links); the form's POST acts, and
answers with a redirect (303) so that reload and Back never post it again. Pages carry a
CSRF token and the page CSP, work without JavaScript, and send no Referer (the token is
in their URL).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, jsonify, request
from werkzeug.datastructures import MultiDict

from idp.accounts.emails import InvalidEmail
from idp.accounts.forms import (
    InvalidForm, ResetCompletion, ResetRequest, VerificationCompletion, validate,
)
from idp.accounts.recovery import RESET_PATH, VERIFY_PATH, InvalidToken
from idp.accounts.throttling import SlowDown
from idp.http.bearer import require_account_caller
from idp.http.context import services
from idp.http.csrf import require_csrf
from idp.http.forms import client_ip, read_json_object
from idp.http.pages import render_page

bp = Blueprint("recovery", __name__)

FORGOT_PATH = "/account/forgot"
RESEND_PATH = "/account/verify/resend"
SIGN_IN_PATH = "/account"
UNVERIFIED_EMAIL = ("Confirm your e-mail address first: open the link in the message we sent to it, "
                    "then sign in.")


def forgot_url(email: str | None) -> str:
    """The login pages' "Forgot your password?" link, with the address typed so far."""
    return f"{FORGOT_PATH}?{urlencode({'email': email})}" if email else FORGOT_PATH


def resend_url(email: str | None) -> str | None:
    """The link that sends the verification message again (IDP_REQUIRE_VERIFIED_EMAIL)."""
    return f"{RESEND_PATH}?{urlencode({'email': email})}" if email else None


# -- JSON -------------------------------------------------------------------------------

def _accepted() -> Response:
    response = jsonify({})
    response.status_code = 202
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/users/password-reset")
async def request_reset() -> Response:
    """202 for any address, known or not, in the same time (the lookup happens off the
    request's path)."""
    form = validate(ResetRequest, await read_json_object())
    await services().password_reset.request(form.email, client_ip())
    return _accepted()


@bp.post("/users/password-reset/complete")
async def complete_reset() -> Response:
    form = validate(ResetCompletion, await read_json_object())
    await services().password_reset.complete(form.token, form.password)
    return Response(status=204, headers={"Cache-Control": "no-store"})


@bp.post("/users/email-verification/complete")
async def complete_verification() -> Response:
    form = validate(VerificationCompletion, await read_json_object())
    await services().verification.complete(form.token)
    return Response(status=204, headers={"Cache-Control": "no-store"})


@bp.post("/users/me/email-verification")
async def resend_verification() -> Response:
    caller = await require_account_caller()
    svc = services()
    await svc.verification.resend(await svc.accounts.get(caller.user_id))
    return _accepted()


# -- pages ------------------------------------------------------------------------------

def _see_other(location: str) -> Response:
    return Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


async def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = await render_page(template, status=status, **context)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def _notice(title: str, message: str, *, status: int = 200, link: str | None = None,
                  link_text: str | None = None) -> Response:
    return await _page("notice.html", status=status, title=title, message=message, link=link, link_text=link_text)


async def _dead_link(kind: str) -> Response:
    again = (FORGOT_PATH, "Ask for a new link") if kind == "reset" else (RESEND_PATH, "Send a new link")
    return await _notice("This link no longer works",
                         "It was used already, it expired, or a newer link replaced it.",
                         status=400, link=again[0], link_text=again[1])


async def _email_form(template: str, action: str, form: MultiDict[str, str], send: str) -> Response:
    """The forgot-password and send-again forms: the same answer for any address."""
    email = form.get("email", "")
    try:
        valid = validate(ResetRequest, {"email": email})
    except (InvalidForm, InvalidEmail) as exc:
        fields = exc.fields if isinstance(exc, InvalidForm) else {"email": str(exc)}
        return await _page(template, status=400, action=action, email=email,
                           field_errors={"email": fields.get("email", "is not a valid e-mail address")})
    svc = services()
    try:
        if send == "reset":
            await svc.password_reset.request(valid.email, client_ip())
        else:
            await svc.verification.resend_to_address(valid.email, client_ip())
    except SlowDown as exc:
        response = await _page(template, status=429, action=action, email=email,
                               error="Too many requests from your network. Try again later.")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return _see_other(f"{action}/sent")


@bp.get(FORGOT_PATH)
async def forgot() -> Response:
    return await _page("forgot.html", action=FORGOT_PATH, email=request.args.get("email", ""))


@bp.post(FORGOT_PATH)
async def forgot_form() -> Response:
    await require_csrf()
    return await _email_form("forgot.html", FORGOT_PATH, await request.form, "reset")


@bp.get(f"{FORGOT_PATH}/sent")
async def forgot_sent() -> Response:
    return await _notice("Check your e-mail",
                         "If an account uses this address, a message with a link to choose a new password is "
                         "on its way. The link works for a limited time, once. Nothing arrived? Look in the spam "
                         "folder, or ask again in a minute.", link=SIGN_IN_PATH, link_text="Back to sign-in")


@bp.get(RESET_PATH)
async def reset() -> Response:
    """Shows the form; changes nothing."""
    token = request.args.get("token", "")
    try:
        await services().password_reset.check(token)
    except InvalidToken:
        return await _dead_link("reset")
    return await _page("reset.html", action=RESET_PATH, token=token)


@bp.post(RESET_PATH)
async def reset_form() -> Response:
    await require_csrf()
    form = await request.form
    token = form.get("token", "")
    try:
        valid = validate(ResetCompletion, {"token": token, "password": form.get("new_password", "")})
        await services().password_reset.complete(valid.token, valid.password)
    except InvalidForm as exc:
        if "token" in exc.fields:
            return await _dead_link("reset")
        return await _page("reset.html", status=400, action=RESET_PATH, token=token,
                           field_errors={"new_password": exc.fields.get("password", "is not acceptable")})
    except InvalidToken:
        return await _dead_link("reset")
    return _see_other(f"{RESET_PATH}/done")


@bp.get(f"{RESET_PATH}/done")
async def reset_done() -> Response:
    return await _notice("Your password was changed",
                         "You were signed out everywhere. Sign in with your new password.",
                         link=SIGN_IN_PATH, link_text="Sign in")


@bp.get(VERIFY_PATH)
async def verify() -> Response:
    """Shows the confirm button; changes nothing."""
    return await _page("verify.html", action=VERIFY_PATH, token=request.args.get("token", ""))


@bp.post(VERIFY_PATH)
async def verify_form() -> Response:
    await require_csrf()
    form = await request.form
    try:
        valid = validate(VerificationCompletion, {"token": form.get("token", "")})
        await services().verification.complete(valid.token)
    except (InvalidForm, InvalidToken):
        return await _dead_link("verify")
    return _see_other(f"{VERIFY_PATH}/done")


@bp.get(f"{VERIFY_PATH}/done")
async def verify_done() -> Response:
    return await _notice("Your e-mail address is confirmed", "Thank you. You can close this page.",
                         link=SIGN_IN_PATH, link_text="Go to your account")


@bp.get(RESEND_PATH)
async def resend() -> Response:
    return await _page("resend.html", action=RESEND_PATH, email=request.args.get("email", ""))


@bp.post(RESEND_PATH)
async def resend_form() -> Response:
    await require_csrf()
    return await _email_form("resend.html", RESEND_PATH, await request.form, "verify")


@bp.get(f"{RESEND_PATH}/sent")
async def resend_sent() -> Response:
    return await _notice("Check your e-mail",
                         "If this address belongs to an account that is not confirmed yet, a new message with a "
                         "link to confirm it is on its way.", link=SIGN_IN_PATH, link_text="Back to sign-in")
