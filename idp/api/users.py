"""Self-service account endpoints: /users and /users/me."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app, jsonify

from idp.accounts import Accounts, public_view
from idp.api.bearer import require_account_caller
from idp.api.requests import client_ip, read_json_object
from idp.errors import invalid_request
from idp.schemas import Deletion, ProfileChange, Registration, parse

bp = Blueprint("users", __name__)


def _accounts() -> Accounts:
    return current_app.extensions["idp"].accounts


def _user_response(user: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(public_view(user))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/users")
async def register() -> Response:
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
