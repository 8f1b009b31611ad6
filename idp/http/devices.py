"""Device cookies: a browser that signed in to an account before may keep trying.

Counting failed passwords per account over all addresses bounds guessing spread over
many addresses, but it would also let a stranger lock the owner out. OWASP's answer is
a long-lived cookie set on a successful sign-in: a browser that holds one for the
account is exempt from the account's all-address limit (never from the limit per
address). The cookie holds, for each of the last few accounts signed in to from this
browser, an HMAC of the account's e-mail key under the pages' key: it names no account
to whoever reads it, and cannot be made without the server's key.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from quart import Response, request

from idp.http.csrf import pages_key

PURPOSE = b"idp-device-v1"
MAX_ACCOUNTS = 8
LIFETIME = timedelta(days=365)
_TAG_LENGTH = 22  # 132 bits of the MAC


def _name() -> str:
    return "__Host-idp-device" if pages_key().secure else "idp-device"


def _tag(email_key: str) -> str:
    return pages_key().sign(PURPOSE, email_key)[:_TAG_LENGTH]


def _tags() -> list[str]:
    return [tag for tag in request.cookies.get(_name(), "").split(".") if len(tag) == _TAG_LENGTH][:MAX_ACCOUNTS]


def known(email_key: str) -> bool:
    """Whether this browser signed in to the account with this e-mail key before."""
    wanted = _tag(email_key)
    return any(hmac.compare_digest(tag, wanted) for tag in _tags())


def remember(response: Response, email_key: str) -> None:
    """After a successful sign-in: this browser now knows the account (newest first)."""
    tag = _tag(email_key)
    tags = [tag, *(t for t in _tags() if t != tag)][:MAX_ACCOUNTS]
    response.set_cookie(_name(), ".".join(tags), max_age=int(LIFETIME.total_seconds()), path="/",
                        secure=pages_key().secure, httponly=True, samesite="Lax")
