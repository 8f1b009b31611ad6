"""CSRF tokens for the hosted pages' forms: a signed double-submit cookie.

Each browser gets a random value in an HttpOnly cookie; every form carries, in a hidden
field, HMAC-SHA256(server key, that value). A POST is accepted only when the field
matches the cookie it came with. Another site can make a browser post a form, but it
can neither read the cookie nor compute the token without the server's key, and with
SameSite=Lax the cookie is not even sent on its cross-site POST. This covers login CSRF
too, since it needs no session; `__Host-` (under https) keeps a sibling subdomain from
planting a cookie of its own.

The key is the file `csrf.key` in the keys folder, made (mode 0600) at the first start.
Every worker process and every restart must accept the tokens the others put in pages,
so a per-process random key will not do; the keys folder is already the private state
all of them share. It is a key of its own rather than one derived from a signing key
because signing keys rotate, and a rotation must not break the forms open in browsers.
Deleting the file (and restarting) invalidates the forms that are open, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from pathlib import Path

from quart import Quart, Response, current_app, g, request

from idp.http.pages import PageError
from idp.ops.key_files import read_or_create
from idp.settings import Settings

KEY_FILE = "csrf.key"
KEY_BYTES = 32
FIELD = "csrf_token"
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 random bytes, base64url, unpadded
_EXTENSION = "idp.csrf"


class Csrf:
    def __init__(self, key: bytes, secure: bool) -> None:
        self._key = key
        self.secure = secure
        # RFC 6265bis §4.1.3.2: a __Host- cookie is Secure, host-only and Path=/, so no
        # other host (a sibling subdomain) can set it; only possible under https.
        self.cookie_name = "__Host-idp-csrf" if secure else "idp-csrf"

    def token_for(self, cookie_value: str) -> str:
        return self.sign(b"idp-csrf-v1", cookie_value)

    def sign(self, purpose: bytes, value: str) -> str:
        """HMAC-SHA256 under the pages' key, separated by purpose (CSRF tokens, device
        cookies), base64url."""
        mac = hmac.new(self._key, purpose + b"\x00" + value.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def valid(self, cookie_value: str | None, submitted: str | None) -> bool:
        if not cookie_value or not submitted or not _COOKIE_VALUE.match(cookie_value):
            return False
        expected = self.token_for(cookie_value).encode()
        return hmac.compare_digest(expected, submitted.encode("utf-8", "replace"))


def load_key(folder: Path) -> bytes:
    """Read the key, making it first if no process has yet; raises ConfigError when unusable."""
    return read_or_create(folder / KEY_FILE, KEY_BYTES, "CSRF key", "; delete it to have a new one made")


def pages_key() -> Csrf:
    """The pages' signing key of this app (for other signed cookies)."""
    return _csrf()


def _csrf() -> Csrf:
    found: Csrf = current_app.extensions[_EXTENSION]
    return found


def csrf_token() -> str:
    """The token for this browser's forms; gives the browser its cookie when it has none yet.
    Templates call it as `{{ csrf_token() }}`."""
    protection = _csrf()
    value = getattr(g, "idp_csrf_cookie", None) or request.cookies.get(protection.cookie_name)
    if not value or not _COOKIE_VALUE.match(value):
        value = secrets.token_urlsafe(KEY_BYTES)
        g.idp_csrf_cookie = value  # set on the response by the after_request hook
    return protection.token_for(value)


async def require_csrf() -> None:
    """Refuse (400, the error page) a form POST whose token does not match its cookie.
    Call it first in every view that handles a form, before acting on anything in it."""
    protection = _csrf()
    form = await request.form
    if not protection.valid(request.cookies.get(protection.cookie_name), form.get(FIELD)):
        raise PageError(400, "This form cannot be accepted",
                        "The form was too old or did not come from this site. "
                        "Go back, reload the page and try again.")


def install(app: Quart, settings: Settings) -> None:
    """Load (or make) the key; offer csrf_token() to templates; set the cookie it minted."""
    protection = Csrf(load_key(settings.keys_dir), secure=settings.issuer.startswith("https://"))
    app.extensions[_EXTENSION] = protection
    app.add_template_global(csrf_token)

    @app.after_request
    async def _set_cookie(response: Response) -> Response:
        value = g.get("idp_csrf_cookie")
        if value:
            # A session cookie (no Max-Age): it lives as long as the browser session.
            response.set_cookie(protection.cookie_name, value, path="/", secure=protection.secure,
                                httponly=True, samesite="Lax")
        return response
