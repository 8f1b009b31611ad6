"""Structured logs: one JSON object per line, with the id of the request that wrote it;
on a terminal the same lines as readable text.

Nothing secret is logged by our code: no password, hash, token, client secret or key.
Authlib's debug lines would print issued tokens and user names, and PyMongo's whole
commands with their documents, so both libraries' loggers are held at INFO.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import Any

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


class TextFormatter(logging.Formatter):
    """For a person at a terminal: time, level, message, then the fields as name=value."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, "fields", {}))
        rid = getattr(record, "request_id", None)
        if rid:
            fields["request_id"] = rid
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname.lower():<7} {record.getMessage()}"
        extra = " ".join(f"{name}={value}" for name, value in fields.items()
                         if value is not None and name != "event")
        if extra:
            line += f"  ({extra})"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def formatter_for(stream: Any) -> logging.Formatter:
    """Readable text on a terminal; JSON lines for everything else (files, pipes, journald)."""
    try:
        interactive = bool(stream.isatty())
    except (AttributeError, ValueError):
        interactive = False
    return TextFormatter() if interactive else JsonFormatter()


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
    """Logs on stderr for the whole process (used by `idp serve` and the admin commands):
    JSON lines, or text when stderr is a terminal."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(sys.stderr))
    handler.addFilter(_not_printed_already)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def configure_logging_once(level: int = logging.INFO) -> None:
    """Our logs, unless something configured logging already (`idp serve`, a test
    runner, an operator's logging config): the app factory's entry point for servers
    that load it directly, such as plain Hypercorn."""
    if not logging.getLogger().handlers:
        configure_logging(level)


def quiet_noisy_libraries() -> None:
    """Authlib's debug lines print issued tokens and user names; PyMongo's print whole
    commands, password hashes included. Also stamps every record with the request id."""
    for noisy in ("authlib", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    logging.setLogRecordFactory(_record_with_request_id)


def acceptable_request_id(offered: str) -> bool:
    return bool(_SAFE_REQUEST_ID.fullmatch(offered))


def access(method: str, path: str, status: int, seconds: float | None, remote: str | None) -> None:
    """One access-log line; never the query string, which may carry a token."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    access_log.info("%s %s %s", method, path, status, extra={"fields": {
        "method": method, "path": path, "status": status,
        "duration_ms": round(seconds * 1000, 1) if seconds is not None else None,
        "remote": remote,
    }})
