"""Self-service account endpoints: /users and /users/me."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from idp.accounts.forms import Deletion, ProfileChange, Registration, validate
from idp.accounts.service import Accounts
from idp.clock import rfc3339
from idp.http.bearer import require_account_caller
from idp.http.context import services
from idp.http.errors import invalid_request, registration_closed
from idp.http.forms import client_ip, read_json_object
from idp.store.users import User

bp = Blueprint("users", __name__)


def public_view(user: User) -> dict[str, str | bool]:
    """The user as the API shows it: never a hash, never an internal field."""
    return {
        "id": user.user_id,
        "name": user.name,
        "email": user.email,
        "email_verified": user.email_verified,
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


@bp.post("/users")
async def register() -> Response:
    if not services().settings.registration_open:
        raise registration_closed()  # before the body is read: nothing about it matters
    form = validate(Registration, await read_json_object())
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
    form = validate(ProfileChange, await read_json_object())
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
    form = validate(Deletion, await read_json_object())
    await _accounts().delete(caller.user_id, form.current_password, client_ip())
    return Response(status=204)
