"""The sign-in step after the password: its page, its form, and the passkey challenges
the pages' script asks for.

The step was started by idp.http.factor_hooks after a right password; the person gives
an app code, a recovery code or a passkey. Wrong codes count against the password
throttle of the account. The step is used up when it succeeds (single use), and the
finished sign-in goes back to the flow it came from: the interaction (by id), resumed
through idp.http.authorize.signed_in, or the account page.
"""

from __future__ import annotations

import math

from quart import Blueprint, Response, jsonify, request
from werkzeug.datastructures import MultiDict

from idp.accounts.passkeys import PasskeyRefused
from idp.accounts.throttling import SlowDown
from idp.http import account, authorize, devices
from idp.http.context import services
from idp.http.csrf import require_csrf
from idp.http.factor_hooks import STEP_PATH, browser_binding, clear_step_cookie, passkey_amr, step_cookie_name
from idp.http.forms import client_ip
from idp.http.pages import PageError, render_page
from idp.ops import metrics
from idp.ops.audit import audit
from idp.store.factors import PendingSecondStep

bp = Blueprint("second_step", __name__)

OPTIONS_PATH = "/webauthn/options"
WRONG_CODE = "That code is not right, or was used already. Try the next code from your app."


async def _continue(pending: PendingSecondStep, amr: tuple[str, ...]) -> Response:
    """Hand the finished sign-in back to the flow it came from."""
    if pending.extra.get("kind") == "authorize":
        interaction = await services().interactions.find(pending.extra.get("interaction"))
        if interaction is None:
            raise authorize.expired()
        return await authorize.signed_in(interaction, pending.user_id, pending.stamp, amr=amr)
    return await account.signed_in(pending.user_id, pending.stamp, amr)


# -- the step's page ----------------------------------------------------------------------------

async def _pending() -> PendingSecondStep:
    svc = services()
    step_id = request.cookies.get(step_cookie_name())
    pending = await svc.factor_store.second_step(step_id, svc.logins.now()) if step_id else None
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
        form_targets=await _form_targets(pending),
    )


async def _form_targets(pending: PendingSecondStep) -> list[str]:
    """Where the answer to this step's form may redirect: the interaction's redirect URI
    (a signed-in browser that needs no consent page is sent straight on to the app)."""
    if pending.extra.get("kind") != "authorize":
        return []
    interaction = await services().interactions.find(pending.extra.get("interaction"))
    return [interaction.request.redirect_uri] if interaction is not None else []


@bp.post(STEP_PATH)
async def step_form() -> Response:
    await require_csrf()
    form = await request.form
    pending = await _pending()
    svc = services()
    try:
        attempt = await svc.throttle.begin_password_check(pending.email_key, client_ip(),
                                                          known_device=devices.known(pending.email_key))
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
    response = await _continue(pending, amr)
    clear_step_cookie(response)
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
        return passkey_amr(signed, password=True)
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
        ceremony = await account.passkey_ceremony(purpose)
    else:
        raise PageError(400, "This request cannot be answered", "It did not say what the passkey is for.")
    response = jsonify({"challenge_id": ceremony.challenge_id, "options": ceremony.options_json})
    response.headers["Cache-Control"] = "no-store"
    return response
