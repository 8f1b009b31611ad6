"""Answers that need nothing of the request, served before the framework.

The JWK Set, the discovery documents and the liveness probe are the same bytes for
every caller until a key rotates. Quart's request machinery (request and app contexts,
hooks, a Response object) is most of what such an answer costs, so a GET for them is
answered here, in front of the app, with what every answer carries: the security
headers, a request id, one access-log line and the request metrics. Anything else — any
other method or path, a request with a body — goes to Quart as usual.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from idp.http.asgi import ASGIApp, Receive, Scope, Send
from idp.ops import logs, metrics


@dataclass(frozen=True)
class Prepared:
    """An answer's body and the headers of its own (content type and length are added)."""

    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class PreparedAnswers:
    """ASGI middleware: GET and HEAD of the paths in `answers`, without the framework."""

    def __init__(self, app: ASGIApp, answers: dict[str, Callable[[], Prepared]],
                 common_headers: dict[str, str], trusted_proxies: frozenset[str]) -> None:
        self._app = app
        self._answers = answers
        self._common = [(name.lower().encode(), value.encode()) for name, value in common_headers.items()]
        self._trusted = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._answers.get(scope.get("path", "")) if scope["type"] == "http" else None
        if answer is None or scope["method"] not in ("GET", "HEAD") or _has_body(scope):
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        prepared = answer()
        request_id = self._request_id(scope)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(prepared.body)).encode()),
                   *((name.lower().encode(), value.encode()) for name, value in prepared.headers),
                   *self._common, (b"x-request-id", request_id.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": prepared.body if scope["method"] == "GET" else b""})
        seconds = time.perf_counter() - started
        metrics.count_request(scope["path"], scope["method"], 200, seconds)
        logs.request_id.set(request_id)
        client = scope.get("client")
        logs.access(scope["method"], scope["path"], 200, seconds, client[0] if client else None)

    def _request_id(self, scope: Scope) -> str:
        client = scope.get("client")
        if client and client[0] in self._trusted:
            offered = _header(scope, b"x-request-id")
            if offered is not None and logs.acceptable_request_id(offered):
                return offered
        return uuid.uuid4().hex


def _has_body(scope: Scope) -> bool:
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in scope.get("headers", ()))


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return str(value.decode("latin-1"))
    return None
