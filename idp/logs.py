"""Structured logs: one JSON object per line, with the id of the request that wrote it.

Nothing secret is logged by our code: no password, hash, token, client secret or key.
Authlib's debug lines would print issued tokens and user names, and PyMongo's whole
commands with their documents, so both libraries' loggers are held at INFO.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from typing import Any

from quart import Quart, Response, request

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
access_log = logging.getLogger("idp.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            entry["request_id"] = rid
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


JsonFormatter.converter = time.gmtime


_plain_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Stamp each record when it is made, inside the request's context."""
    record = _plain_factory(*args, **kwargs)
    record.request_id = request_id.get()
    return record


def _not_printed_already(record: logging.LogRecord) -> bool:
    """False for a record whose own logger has a handler: plain Hypercorn gives its
    `hypercorn.error` logger a plain-text handler of its own (after the app is loaded, so
    the app cannot take it away), and the line must not be printed twice."""
    return not logging.getLogger(record.name).handlers


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the whole process (used by `idp serve`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_not_printed_already)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def configure_logging_once(level: int = logging.INFO) -> None:
    """JSON logs, unless something configured logging already (`idp serve`, a test
    runner, an operator's logging config): the app factory's entry point for servers
    that load it directly, such as plain Hypercorn."""
    if not logging.getLogger().handlers:
        configure_logging(level)


def install(app: Quart) -> None:
    """Request ids, one access-log line per request, and Authlib's debug lines dropped."""
    # Authlib's debug lines print issued tokens and user names; PyMongo's print whole
    # commands, password hashes included
    for noisy in ("authlib", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    logging.setLogRecordFactory(_record_with_request_id)

    @app.before_request
    async def _start() -> None:
        offered = request.headers.get("X-Request-ID", "")
        request_id.set(offered if _SAFE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex)
        request.environ_started = time.perf_counter()  # type: ignore[attr-defined]

    @app.after_request
    async def _finish(response: Response) -> Response:
        rid = request_id.get()
        if rid:
            response.headers["X-Request-ID"] = rid
        started = getattr(request, "environ_started", None)
        access_log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={"fields": {
                "method": request.method,
                "path": request.path,  # never the query string: it may carry a token
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
                "remote": request.remote_addr,
            }},
        )
        return response
