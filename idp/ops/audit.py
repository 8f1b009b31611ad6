"""Audit events: one JSON log line per security event, on the logger `idp.audit`.

`audit("login.failed", user_id=...)` is called where the event happens. The client IP
and the client id are known long before (the IP when the request arrives, the client
once it has authenticated), often in another function or a worker thread, so they are
bound to the request's context (`bind`) and every event of that request carries them;
the request id comes with every log record (idp.logs). Fields that are None are left
out. Callers pass ids only: never a password, token, secret, hash, or the e-mail
address a failed login typed (use the user id when the account exists).

Each event also moves its Prometheus counter (idp.metrics), so a log line and the
metric an operator alerts on cannot disagree.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from idp.ops import metrics

log = logging.getLogger("idp.audit")

EVENTS = frozenset({
    "login.succeeded", "login.failed", "login.throttled", "refresh.reused", "logout",
    "password.changed", "email.changed", "account.created", "account.deleted",
    "account.locked", "key.rotated", "client.removed",
    # second factors and passkeys
    "mfa.enabled", "mfa.disabled", "recovery_codes.renewed", "recovery_code.used",
    "passkey.added", "passkey.removed", "passkey.counter_regressed", "second_step.failed",
    "code.redeemed", "code.replayed",
    # account recovery and verified e-mail
    "password.reset.requested", "password.reset", "email.verified",
})
# what an operator should look at; the rest are the ordinary life of accounts
_WARNINGS = frozenset({"login.throttled", "refresh.reused", "code.replayed", "account.locked", "client.removed",
                       "passkey.counter_regressed"})

_bound: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("idp_audit_bound", default={})


def bind(**fields: str | None) -> None:
    """Attach fields (client_ip, client_id) to every later event of this request."""
    _bound.set({**_bound.get(), **{name: value for name, value in fields.items() if value is not None}})


def audit(event: str, **fields: Any) -> None:
    """Log one security event, with the request's bound fields, and count it."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    merged = {"event": event, **_bound.get(), **{name: value for name, value in fields.items() if value is not None}}
    log.log(logging.WARNING if event in _WARNINGS else logging.INFO, event, extra={"fields": merged})
    metrics.count_event(event)


def begin_request(client_ip: str) -> None:
    """A fresh binding for a new request: its client IP, nothing of an earlier request."""
    _bound.set({"client_ip": client_ip})
