"""Test-only routes that render every hosted page with sample values, and a form handler
behind the CSRF check: the pages exist before the endpoints that will show them do.
Never part of the product; tests register the blueprint on their own app."""

from __future__ import annotations

from quart import Blueprint, Response, redirect, request

from idp.http.csrf import require_csrf
from idp.http.pages import PageError, describe_scopes, render_page

bp = Blueprint("test_pages", __name__)

CLIENT_NAME = "Example App"
SCOPE = "openid profile email account reports:read"


@bp.get("/_test/login")
async def login() -> Response:
    return await render_page("login.html", action="/_test/form", hidden={"request_id": "r-123"},
                             client_name=CLIENT_NAME, email=request.args.get("email"),
                             error=request.args.get("error"), signup_url="/_test/signup")


@bp.get("/_test/consent")
async def consent() -> Response:
    """`next` (optional): where the form's answer redirects, named in the CSP's form-action
    unless `forget_target` is given."""
    target = request.args.get("next")
    named = target and not request.args.get("forget_target")
    return await render_page("consent.html", action="/_test/form", client_name=CLIENT_NAME,
                             scopes=describe_scopes(SCOPE), user="ann@example.com",
                             hidden={"next": target} if target else {},
                             form_targets=[target] if named else [])


@bp.get("/_test/signup")
async def signup() -> Response:
    errors = {"password": "This password is one of the most common; choose another."}
    return await render_page("signup.html", action="/_test/form", name="Ann", email="ann@example.com",
                             field_errors=errors if request.args.get("errors") else None,
                             login_url="/_test/login")


@bp.get("/_test/logout")
async def logout() -> Response:
    return await render_page("logout.html", action="/_test/form", client_name=CLIENT_NAME)


@bp.get("/_test/signed-out")
async def signed_out() -> Response:
    return await render_page("signed_out.html", client_name=CLIENT_NAME)


@bp.get("/_test/error")
async def error() -> Response:
    raise PageError(400, "This sign-in request cannot be used",
                    "The app sent a redirect address it has not registered.")


@bp.post("/_test/form")
async def form() -> Response:
    await require_csrf()
    fields = await request.form
    if fields.get("next"):
        return redirect(fields["next"])
    return Response("accepted " + " ".join(sorted(k for k in fields if k != "csrf_token")),
                    mimetype="text/plain")
