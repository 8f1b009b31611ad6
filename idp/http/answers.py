"""How an authorization request is answered to its app: a redirect to its redirect URI.

A form's answer can only redirect where the form page's CSP names, and CSP cannot name
an IPv6 literal: then a page links there (and refreshes to it) instead, which no
form-action holds back.
"""

from __future__ import annotations

from quart import Response, request

from idp.http.cookies import found, see_other
from idp.http.display import client_display
from idp.http.pages import expressible, render_page

CONTINUE = "/oauth/authorize/continue"


def _after_form() -> bool:
    """Whether this request is part of a form's navigation (a post, or the page a post
    redirected to): the browser then holds the final redirect to the form page's CSP."""
    return request.method == "POST" or request.path == CONTINUE


async def answer_app(location: str, client_id: str) -> Response:
    """Redirect to the app's redirect URI (a 303 after a form, a 302 otherwise)."""
    if _after_form() and not expressible(location):
        display = client_display(client_id)
        return await render_page("continue.html", location=location,
                                 client_name=display.name if display else client_id)
    return see_other(location) if request.method == "POST" else found(location)
