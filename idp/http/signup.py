"""Sign-up from the login page: make an account, then go on with the interaction that
was waiting for a login. The form carries the interaction's id, never the request."""

from __future__ import annotations

from quart import Blueprint, Response, request

from idp.accounts.throttling import SlowDown
from idp.http.authorize import (
    SIGNUP, back_with, continue_url, expired, registration_open, signed_in, throttled_notice, unverified_notice,
)
from idp.http.context import services
from idp.http.csrf import require_csrf
from idp.http.display import client_display
from idp.accounts.forms import InvalidForm, Registration, validate
from idp.http.forms import client_ip
from idp.http.pages import Link, PageError, render_page
from idp.store.interactions import Interaction, Notice
from idp.store.users import EmailTaken

bp = Blueprint("signup", __name__)


async def _interaction(interaction_id: str | None) -> Interaction:
    found = await services().interactions.find(interaction_id)
    if found is None:
        raise expired()
    return found


def _require_registration_open(interaction: Interaction) -> None:
    if not registration_open():
        raise PageError(403, "Sign-up is closed", "Accounts on this server are made by its administrators. "
                        "Ask them for one, or sign in if you have one.",
                        Link(continue_url(interaction), "Back to sign in"))


@bp.get(SIGNUP)
async def signup() -> Response:
    interaction = await _interaction(request.args.get("interaction"))
    _require_registration_open(interaction)
    notice = interaction.notice if interaction.notice and interaction.notice.form == "signup" else None
    display = client_display(interaction.request.client_id)
    return await render_page(
        "signup.html", status=notice.status if notice else 200,
        images=[display.logo_uri] if display and display.logo_uri else [], action=SIGNUP,
        hidden={"interaction": interaction.interaction_id}, name=notice.name if notice else "",
        email=(notice.email if notice else None) or interaction.request.login_hint,
        error=notice.message if notice else None, field_errors=notice.field_errors if notice else None,
        client=display, client_name=display.name if display else interaction.request.client_id,
        login_url=continue_url(interaction),
    )


@bp.post(SIGNUP)
async def signup_form() -> Response:
    await require_csrf()
    form = await request.form
    interaction = await _interaction(form.get("interaction"))
    _require_registration_open(interaction)
    svc = services()
    body = {field: form.get(field, "") for field in ("name", "email", "password")}
    name, email = body["name"], body["email"]
    try:
        registration = validate(Registration, body)
        user = await svc.accounts.register(registration, client_ip())
    except InvalidForm as exc:
        return await back_with(interaction, Notice(form="signup", status=400, field_errors=exc.fields,
                                                message="Please correct the fields below.", name=name, email=email))
    except EmailTaken:
        return await back_with(interaction, Notice(
            form="signup", status=409, name=name, email=email,
            field_errors={"email": "An account with this e-mail address exists; sign in instead."}))
    except SlowDown:
        return await back_with(interaction, Notice(
            form="signup", status=429, name=name, email=email,
            message="Too many accounts were made from your network. Try again later."))
    try:
        credentials = await svc.password_check(user.email_key, registration.password, client_ip())
    except SlowDown as exc:
        return await back_with(interaction, throttled_notice(user.email, exc.retry_after))
    if credentials is None:  # changed or deleted in the moment since
        return await back_with(interaction, Notice(email=user.email))
    if not await svc.verification.may_sign_in(credentials.user_id):
        return await back_with(interaction, unverified_notice(user.email))
    return await signed_in(interaction, credentials.user_id, credentials.stamp)

