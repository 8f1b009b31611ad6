"""An answer sent before its request's body has arrived says `Connection: close`.

When the app answers a request whose body is still on its way (a 404 or a 401 to a
POST), HTTP/1.1 servers cannot reuse the connection: the rest of the body would be read
as the next request. Hypercorn closes it after the answer, but without saying so, and
a client that pooled the connection sends its next request into a closed socket. The
header tells the client not to. A body that is merely a moment behind (already at the
server, not yet read) is waited for briefly, so ordinary keep-alive is kept.
"""

from __future__ import annotations

import asyncio
from idp.http.asgi import ASGIApp, Message, Receive, Scope, Send

BODY_GRACE = 0.05  # seconds an answer waits for a body that is already arriving


def close_when_body_unread(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI app (HTTP/1.x only: HTTP/2 has no Connection header and no such problem)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("http_version") not in ("1.0", "1.1")
                or not _announces_body(scope)):
            await app(scope, receive, send)
            return
        complete = asyncio.Event()

        async def tracked_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                complete.set()
            return message

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete.is_set():
                try:
                    await asyncio.wait_for(complete.wait(), BODY_GRACE)
                except TimeoutError:
                    headers = [*message.get("headers", []), (b"connection", b"close")]
                    message = {**message, "headers": headers}
            await send(message)

        await app(scope, tracked_receive, guarded_send)

    return wrapped


def _announces_body(scope: Scope) -> bool:
    """Whether the request has a body to come: a non-zero length, or chunks."""
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False
