"""The ASGI shapes our middleware passes on (scopes and messages as plain mappings)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from quart import Quart

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def put_in_front(app: Quart, middleware: Callable[[ASGIApp], ASGIApp]) -> None:
    """Wrap the app's ASGI callable (Flask's wsgi_app pattern, which Quart keeps). Quart
    types that callable with Hypercorn's TypedDicts, our middleware with plain mappings:
    the two are the same objects at run time, hence the casts at this one boundary."""
    setattr(app, "asgi_app", middleware(cast(ASGIApp, app.asgi_app)))
