"""What every request gets, in one hook before it and one after: its id, its client IP
bound for audit events, the body-size limit, then the security headers, the metrics
and one access-log line.

One hook each way, not one per concern: every hook is a coroutine Quart awaits on every
request, the cheapest ones included (JWKS, health).
"""

from __future__ import annotations

import time
import uuid

from quart import Quart, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from idp.http.forms import client_ip, from_trusted_proxy
from idp.ops import audit, logs, metrics

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def install(app: Quart, max_body_bytes: int) -> None:
    logs.quiet_noisy_libraries()

    @app.before_request
    async def _begin() -> None:
        g.started = time.perf_counter()
        # an id chosen by a client would let it forge or join another request's log lines
        offered = request.headers.get("X-Request-ID", "") if from_trusted_proxy() else ""
        logs.request_id.set(offered if logs.acceptable_request_id(offered) else uuid.uuid4().hex)
        audit.begin_request(client_ip())
        # a declared length over the limit is 413 before anything else (authentication
        # included) looks at the request; Quart enforces the limit again while reading
        if (request.content_length or 0) > max_body_bytes:
            raise RequestEntityTooLarge()

    @app.after_request
    async def _finish(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        rid = logs.request_id.get()
        if rid:
            response.headers["X-Request-ID"] = rid
        rule = request.url_rule
        method = request.method if request.method in KNOWN_METHODS else "other"
        started = g.get("started")
        seconds = time.perf_counter() - started if started is not None else None
        metrics.count_request(rule.rule if rule is not None else None, method, response.status_code, seconds)
        logs.access(method, request.path, response.status_code, seconds, request.remote_addr)
        return response

