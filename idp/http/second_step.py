"""The sign-in step after the password, and sign-in with a passkey alone.

After a right password, an account with an authenticator app or a passkey is not signed
in yet: a pending step is stored on the server (idp.store.factors, 5 minutes, keyed by
an unguessable id in a cookie) with where the sign-in was going (`continuation`: the
authorization request being answered, or the account page), and the person is asked for
an app code, a recovery code or a passkey. Wrong codes count against the password
throttle of the account. The step is used up when it succeeds (single use).

This module is attached to the login flow by two marked hooks in idp.http.authorize
(`begin_if_needed` after the password check, `passkey_sign_in` for the login page's
passkey button) and one in idp.http.account; the continuation is how it hands back.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import timedelta
from typing import Any

from quart import Blueprint, Response, jsonify, request
from werkzeug.datastructures import MultiDict

from idp.accounts.passkeys import PasskeyRefused, PasskeySignIn
from idp.accounts.throttling import SlowDown
from idp.http.context import services
from idp.http.csrf import require_csrf
from idp.http.forms import client_ip
from idp.http.pages import PageError, render_page
from idp.ops import metrics
from idp.ops.audit import audit
from idp.store.factors import PendingSecondStep
from idp.store.users import Credentials

bp = Blueprint("second_step", __name__)

STEP_PATH = "/sign-in/second-step"
OPTIONS_PATH = "/webauthn/options"
STEP_TTL = timedelta(minutes=5)
WRONG_CODE = "That code is not right, or was used already. Try the next code from your app."


def _cookie_name() -> str:
    return "__Host-idp-second-step" if services().settings.issuer.startswith("https://") else "idp-second-step"


def _secure() -> bool:
    return services().settings.issuer.startswith("https://")


def see_other(location: str) -> Response:
    return Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def browser_binding() -> str:
    """What binds a passkey challenge to this browser before anyone is signed in: a digest
    of its CSRF cookie (HttpOnly, random, unreadable by other sites)."""
    from idp.http.csrf import _csrf

    value = request.cookies.get(_csrf().cookie_name, "")
    return hashlib.sha256(b"passkey-binding\x00" + value.encode()).hexdigest()


# -- hooks for the login flows -----------------------------------------------------------------

async def begin_if_needed(credentials: Credentials, continuation: dict[str, Any]) -> Response | None:
    """After a right password: None when the account has no second factor (sign in now);
    otherwise a redirect to the second step, which continues with `continuation`."""
    svc = services()
    if not (await svc.factors.status(credentials.user_id)).second_factor:
        return None
    step = PendingSecondStep(secrets.token_urlsafe(32), credentials.user_id, credentials.stamp,
                             credentials.email_key, svc.tokens.now() + STEP_TTL, continuation)
    await svc.factor_store.create_second_step(step)
    response = see_other(STEP_PATH)
    response.set_cookie(_cookie_name(), step.step_id, max_age=int(STEP_TTL.total_seconds()), path="/",
                        secure=_secure(), httponly=True, samesite="Lax")
    return response


async def passkey_sign_in(form: MultiDict[str, str], continuation: dict[str, Any]) -> Response:
    """The login page's "sign in with a passkey": no e-mail, no password, no second step."""
    svc = services()
    try:
        signed = await svc.passkeys.authenticate(form.get("challenge_id", ""), browser_binding(),
                                                 form.get("credential", ""))
    except PasskeyRefused:
        metrics.SECOND_STEPS.labels("passkey", "failed").inc()
        audit("second_step.failed", method="passkey")
        raise PageError(400, "That passkey did not sign you in",
                        "The passkey was not accepted (it may have been removed from your account, or the "
                        "sign-in took too long). Go back and try again, or sign in with your password.") from None
    credentials = await _credentials_of(signed.user_id)
    if credentials is None:
        raise PageError(400, "That passkey did not sign you in", "This account cannot sign in now.")
    metrics.SECOND_STEPS.labels("passkey", "succeeded").inc()
    return await _continue(continuation, credentials.user_id, credentials.stamp, _passkey_amr(signed, password=False))


async def _credentials_of(user_id: str) -> Credentials | None:
    """The credentials of an account that may sign in (not locked), for their stamp."""
    svc = services()
    user = await svc.users.by_id(user_id)
    credentials = await svc.users.credentials(user.email_key) if user else None
    if credentials is None or credentials.locked or credentials.user_id != user_id:
        return None
    return credentials


def _passkey_amr(signed: PasskeySignIn, *, password: bool) -> tuple[str, ...]:
    amr = ["pwd"] if password else []
    amr.append("hwk")
    if signed.user_verified:
        amr.append("user")
    if password:
        amr.append("mfa")
    return tuple(amr)


async def _continue(continuation: dict[str, Any], user_id: str, stamp: str, amr: tuple[str, ...]) -> Response:
    """Hand the finished sign-in back to the flow it came from."""
    if continuation.get("kind") == "authorize":
        from idp.http import authorize  # the flow that hooked this step in

        auth_request = authorize._parse(MultiDict(continuation.get("params", {})))
        return await authorize._signed_in(auth_request, user_id, stamp, amr=amr)
    from idp.http import account

    return await account.signed_in(user_id, stamp, amr)


# -- the step's page ----------------------------------------------------------------------------

async def _pending() -> PendingSecondStep:
    svc = services()
    step_id = request.cookies.get(_cookie_name())
    pending = await svc.factor_store.second_step(step_id, svc.tokens.now()) if step_id else None
    if pending is None:
        raise PageError(400, "This sign-in has expired",
                        "Too much time passed since you gave your password. Go back to the app and sign in again.")
    return pending


@bp.get(STEP_PATH)
async def step_page() -> Response:
    return await _step_page(await _pending())


async def _step_page(pending: PendingSecondStep, *, error: str | None = None, status: int = 200) -> Response:
    svc = services()
    record = await svc.factors.status(pending.user_id)
    return await render_page(
        "second_step.html", status=status, scripts=bool(record.passkeys), action=STEP_PATH, error=error,
        totp=record.totp_on, recovery=record.recovery_left > 0, passkeys=bool(record.passkeys) and svc.passkeys.enabled,
        form_targets=_form_targets(pending),
    )


def _form_targets(pending: PendingSecondStep) -> list[str]:
    """Where the answer to this step's form may redirect: the app's redirect URI."""
    params = pending.extra.get("params", {})
    uri = params.get("redirect_uri")
    if isinstance(uri, str):
        return [uri]
    client = services().tokens.client(params.get("client_id", "")) if params.get("client_id") else None
    default = client.get_default_redirect_uri() if client else None
    return [default] if default else []


@bp.post(STEP_PATH)
async def step_form() -> Response:
    await require_csrf()
    form = await request.form
    pending = await _pending()
    svc = services()
    try:
        attempt = await svc.throttle.begin_password_check(pending.email_key, client_ip())
    except SlowDown as exc:
        minutes = max(1, math.ceil(exc.retry_after / 60))
        response = await _step_page(pending, status=429, error=f"Too many attempts. Try again in {minutes} minute"
                                                                 f"{'s' if minutes > 1 else ''}.")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    amr = await _check(pending, form)
    if amr is None:
        return await _step_page(pending, status=400, error=WRONG_CODE)
    await svc.throttle.password_check_succeeded(attempt)
    if not await svc.factor_store.finish_second_step(pending.step_id):
        raise PageError(400, "This sign-in was already completed", "Go back to the app and continue there.")
    response = await _continue(pending.extra, pending.user_id, pending.stamp, amr)
    response.delete_cookie(_cookie_name(), path="/", secure=_secure(), httponly=True, samesite="Lax")
    return response


async def _check(pending: PendingSecondStep, form: MultiDict[str, str]) -> tuple[str, ...] | None:
    """The amr of a right answer (app code, recovery code or passkey), or None."""
    svc = services()
    if form.get("credential"):
        try:
            signed = await svc.passkeys.authenticate(form.get("challenge_id", ""), pending.step_id,
                                                     form["credential"], user_id=pending.user_id)
        except PasskeyRefused:
            _failed("passkey", pending)
            return None
        metrics.SECOND_STEPS.labels("passkey", "succeeded").inc()
        return _passkey_amr(signed, password=True)
    code = "".join(form.get("code", "").split())
    if len(code) == 6 and code.isdigit():
        if await svc.factors.verify_totp(pending.user_id, code):
            metrics.SECOND_STEPS.labels("totp", "succeeded").inc()
            return ("pwd", "otp", "mfa")
        _failed("totp", pending)
        return None
    if code and await svc.factors.use_recovery_code(pending.user_id, code):
        metrics.SECOND_STEPS.labels("recovery", "succeeded").inc()
        return ("pwd", "otp", "mfa")
    _failed("recovery", pending)
    return None


def _failed(method: str, pending: PendingSecondStep) -> None:
    metrics.SECOND_STEPS.labels(method, "failed").inc()
    audit("second_step.failed", user_id=pending.user_id, method=method)


# -- passkey challenges for the pages' script ---------------------------------------------------

@bp.post(OPTIONS_PATH)
async def passkey_options() -> Response:
    """A new challenge for the page's passkey step, as JSON: `purpose` is `signin` (the
    login page), `second_step`, `register` or `confirm` (the account page)."""
    await require_csrf()
    svc = services()
    if not svc.passkeys.enabled:
        raise PageError(404, "Passkeys are off", "This server's address does not allow passkeys.")
    purpose = (await request.form).get("purpose")
    if purpose == "signin":
        ceremony = await svc.passkeys.authentication_options(browser_binding())
    elif purpose == "second_step":
        pending = await _pending()
        ceremony = await svc.passkeys.authentication_options(pending.step_id, user_id=pending.user_id)
    elif purpose in ("register", "confirm"):
        from idp.http import account

        ceremony = await account.passkey_ceremony(purpose)
    else:
        raise PageError(400, "This request cannot be answered", "It did not say what the passkey is for.")
    response = jsonify({"challenge_id": ceremony.challenge_id, "options": ceremony.options_json})
    response.headers["Cache-Control"] = "no-store"
    return response
