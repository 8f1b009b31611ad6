"""What the sign-in flows (idp.http.authorize, idp.http.account) call for second factors:
after a right password, `begin_if_needed` starts the step after the password when the
account has an authenticator app or a passkey; `passkey_sign_in` checks the login
page's "sign in with a passkey" (no e-mail, no password, no second step).

The pending step is kept on the server (idp.store.factors, 5 minutes, keyed by an
unguessable id in a cookie) with where the sign-in was going (`continuation`: the
interaction being answered, by id, or the account page). The step's own page is
idp.http.second_step, which hands the finished sign-in back to that flow.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from quart import Response, request
from werkzeug.datastructures import MultiDict

from idp.accounts.passkeys import PasskeyRefused, PasskeySignIn
from idp.http.context import services
from idp.http.cookies import see_other
from idp.http.csrf import pages_key
from idp.http.pages import Link, PageError
from idp.http.recovery import RESEND_PATH
from idp.ops import metrics
from idp.ops.audit import audit
from idp.store.factors import PendingSecondStep
from idp.store.users import Credentials

STEP_PATH = "/sign-in/second-step"
STEP_TTL = timedelta(minutes=5)

Continuation = dict[str, str]
"""Where a sign-in goes once its second step is done: {"kind": "authorize", "interaction":
id} or {"kind": "account"}."""


@dataclass(frozen=True)
class PasskeyUser:
    """Who a passkey signed in, and how (RFC 8176 amr)."""

    user_id: str
    stamp: str
    amr: tuple[str, ...]


def step_cookie_name() -> str:
    return "__Host-idp-second-step" if _secure() else "idp-second-step"


def _secure() -> bool:
    return services().settings.issuer.startswith("https://")


def clear_step_cookie(response: Response) -> None:
    response.delete_cookie(step_cookie_name(), path="/", secure=_secure(), httponly=True, samesite="Lax")


def browser_binding() -> str:
    """What binds a passkey challenge to this browser before anyone is signed in: a digest
    of its CSRF cookie (HttpOnly, random, unreadable by other sites)."""
    value = request.cookies.get(pages_key().cookie_name, "")
    return hashlib.sha256(b"passkey-binding\x00" + value.encode()).hexdigest()


def passkey_amr(signed: PasskeySignIn, *, password: bool) -> tuple[str, ...]:
    amr = ["pwd"] if password else []
    amr.append("hwk")
    if signed.user_verified:
        amr.append("user")
    if password:
        amr.append("mfa")
    return tuple(amr)


async def begin_if_needed(credentials: Credentials, continuation: Continuation) -> Response | None:
    """After a right password: None when the account has no second factor (sign in now);
    otherwise a 303 to the second step, which continues with `continuation`."""
    svc = services()
    if not await svc.factors.required(credentials.user_id):
        return None
    step = PendingSecondStep(secrets.token_urlsafe(32), credentials.user_id, credentials.stamp,
                             credentials.email_key, svc.logins.now() + STEP_TTL, dict(continuation))
    await svc.factor_store.create_second_step(step)
    response = see_other(STEP_PATH)
    response.set_cookie(step_cookie_name(), step.step_id, max_age=int(STEP_TTL.total_seconds()), path="/",
                        secure=_secure(), httponly=True, samesite="Lax")
    return response


async def passkey_sign_in(form: MultiDict[str, str]) -> PasskeyUser:
    """The login page's "sign in with a passkey": who it signed in. Raises PageError."""
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
    credentials = await credentials_of(signed.user_id)
    if credentials is None:
        raise PageError(400, "That passkey did not sign you in", "This account cannot sign in now.")
    if not await svc.verification.may_sign_in(credentials.user_id):  # IDP_REQUIRE_VERIFIED_EMAIL
        raise PageError(403, "Confirm your e-mail address first",
                        "This server signs people in only once their e-mail address is confirmed. Open the "
                        "link in the message we sent you, or ask for a new one.",
                        Link(RESEND_PATH, "Send the message again"))
    metrics.SECOND_STEPS.labels("passkey", "succeeded").inc()
    return PasskeyUser(credentials.user_id, credentials.stamp, passkey_amr(signed, password=False))


async def credentials_of(user_id: str) -> Credentials | None:
    """The credentials of an account that may sign in (not locked), for their stamp."""
    svc = services()
    user = await svc.users.by_id(user_id)
    credentials = await svc.users.credentials(user.email_key) if user else None
    if credentials is None or credentials.locked or credentials.user_id != user_id:
        return None
    return credentials
