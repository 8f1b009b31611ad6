"""The browser session cookie (HttpOnly, SameSite=Lax, Secure and __Host- under https)."""

from __future__ import annotations

from quart import Response, request

from idp.http.context import services
from idp.logins.browser import BrowserSession


def session_cookie_name() -> str:
    # __Host- (under https) keeps a sibling subdomain from planting a session of its own
    return "__Host-idp-session" if _secure() else "idp-session"


def _secure() -> bool:
    return services().settings.issuer.startswith("https://")


def set_session_cookie(response: Response, value: str) -> None:
    response.set_cookie(session_cookie_name(), value, path="/", secure=_secure(), httponly=True, samesite="Lax")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(session_cookie_name(), path="/", secure=_secure(), httponly=True, samesite="Lax")


async def browser_session() -> BrowserSession | None:
    """The live browser session this request's cookie names and proves, or None."""
    return await services().browser.find(request.cookies.get(session_cookie_name()))


def see_other(location: str) -> Response:
    """The answer to every form post: 303, so Back, Forward and reload never post it again."""
    return Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def found(location: str) -> Response:
    return Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})
