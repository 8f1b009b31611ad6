"""Self-service account endpoints: /users and /users/me."""

from __future__ import annotations

from collections.abc import Callable

from quart import Blueprint, Response, current_app, jsonify

from idp.http.context import services
from idp.accounts.service import Accounts, EmailTaken, UserGone, WrongPassword
from idp.http.bearer import invalid_token, require_account_caller
from idp.http.forms import client_ip, read_json_object
from idp.clock import rfc3339
from idp.http.errors import ApiError, invalid_request, json_error
from idp.http.schemas import Deletion, ProfileChange, Registration, parse
from idp.store.users import User

bp = Blueprint("users", __name__)


_ERRORS: dict[type[Exception], Callable[[], ApiError]] = {
    EmailTaken: lambda: ApiError(409, "email_taken", "An account with this e-mail address exists."),
    WrongPassword: lambda: ApiError(403, "invalid_current_password", "The current password is wrong."),
    UserGone: invalid_token,
}


@bp.errorhandler(EmailTaken)
@bp.errorhandler(WrongPassword)
@bp.errorhandler(UserGone)
async def _account_error(error: Exception) -> Response:
    """The account service's domain errors, as HTTP."""
    return json_error(_ERRORS[type(error)]())


def public_view(user: User) -> dict[str, str]:
    """The user as the API shows it: never a hash, never an internal field."""
    return {
        "id": user.user_id,
        "name": user.name,
        "email": user.email,
        "created_at": rfc3339(user.created_at),
        "updated_at": rfc3339(user.updated_at),
    }


def _accounts() -> Accounts:
    return services().accounts


def _user_response(user: User, status: int = 200) -> Response:
    response = jsonify(public_view(user))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def registration_closed() -> ApiError:
    return ApiError(403, "registration_closed",
                    "Self-registration is closed on this server: ask its administrator for an account.")


@bp.post("/users")
async def register() -> Response:
    if not services().settings.registration_open:
        raise registration_closed()  # before the body is read: nothing about it matters
    form = parse(Registration, await read_json_object())
    user = await _accounts().register(form, client_ip())
    response = _user_response(user, 201)
    response.headers["Location"] = "/users/me"
    return response


@bp.get("/users/me")
async def me() -> Response:
    caller = await require_account_caller()
    return _user_response(await _accounts().get(caller.user_id))


@bp.patch("/users/me")
async def change_me() -> Response:
    caller = await require_account_caller()
    form = parse(ProfileChange, await read_json_object())
    if not form.changes_anything:
        raise invalid_request("Nothing to change: send at least one of name, email, password.")
    if form.changes_credentials and form.current_password is None:
        raise invalid_request(
            "current_password is required to change email or password.",
            {"current_password": "is required to change email or password"},
        )
    user = await _accounts().change(caller.user_id, caller.sid, form, client_ip())
    return _user_response(user)


@bp.delete("/users/me")
async def delete_me() -> Response:
    caller = await require_account_caller()
    form = parse(Deletion, await read_json_object())
    await _accounts().delete(caller.user_id, form.current_password, client_ip())
    return Response(status=204)
