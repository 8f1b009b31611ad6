"""Prometheus metrics, served on a listener of their own (IDP_METRICS_ADDR), never on the app's port.

The series (the contract's "Running it"): requests by route and status with latency
histograms, logins by outcome, throttled attempts, refresh-token reuse detections, the
password-hash queue and hashing time, database errors, and the outbox (messages queued,
sent and failed, and the age of the oldest one waiting).

Routes are labelled by their URL rule (`/users/me`), never the raw path: a scan of
random paths must not make a series per path. Under `idp serve` several worker
processes count, each into files of a directory the parent made
(PROMETHEUS_MULTIPROC_DIR, prometheus_client's multi-process mode), and the parent
serves the sum of them; a process on its own (plain Hypercorn, tests) serves its own
counts. prometheus_client picks its storage when first imported, so the directory is
in the environment before a worker imports this module.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app, multiprocess
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("idp_http_requests", "HTTP requests answered, by route (URL rule), method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("idp_http_request_duration_seconds", "time to answer an HTTP request, by route and method",
                    ["route", "method"])
LOGINS = Counter("idp_logins", "password checks by outcome: succeeded (a login made), failed, throttled",
                 ["outcome"])
THROTTLED = Counter("idp_throttled_attempts", "attempts refused by a throttle, by limit: email, ip, register",
                    ["limit"])
REFRESH_REUSE = Counter("idp_refresh_token_reuse", "used refresh tokens presented again (each ends its login)")
HASH_QUEUE = Gauge("idp_password_hash_queue", "password hashes waiting for a thread of the hashing pool",
                   multiprocess_mode="livesum")
HASH_SECONDS = Histogram("idp_password_hash_seconds", "time one password hash or verification takes",
                         buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0))
FACTOR_CHANGES = Counter("idp_factor_changes", "second factors enrolled and removed, by factor (totp, passkey) "
                         "and change (enabled, disabled, added, removed)", ["factor", "change"])
SECOND_STEPS = Counter("idp_second_steps", "sign-in steps after the password and passkey sign-ins, by method "
                       "(totp, recovery, passkey) and outcome (succeeded, failed)", ["method", "outcome"])
DATABASE_ERRORS = Counter("idp_database_errors", "requests answered 503 because the database did not answer")
MAIL_QUEUED = Counter("idp_mail_queued", "messages stored in the outbox to be sent")
MAIL_SENT = Counter("idp_mail_sent", "messages the mail server accepted")
MAIL_FAILED = Counter("idp_mail_failed", "messages given up: refused for good (5xx), or not accepted for a day")
MAIL_OLDEST_PENDING = Gauge("idp_mail_oldest_queued_seconds", "age of the oldest message not yet sent (0: none)",
                            multiprocess_mode="max")



class _WorkerRestarts(Collector):
    """Worker processes that died and were replaced: counted by `idp serve`'s parent, which
    writes no multi-process files, so a plain number it serves beside the workers' sums."""

    count = 0

    def collect(self) -> Iterable[CounterMetricFamily]:
        yield CounterMetricFamily("idp_worker_restarts", "worker processes of idp serve that died and were "
                                  "replaced", value=self.count)


WORKER_RESTARTS = _WorkerRestarts()
MAX_CONNECTIONS = 16  # scrapes are few; more at once is a client holding sockets open
IDLE_SECONDS = 10.0  # a connection that sends nothing for this long is closed

_LOGIN_OUTCOMES = {"login.succeeded": "succeeded", "login.failed": "failed", "login.throttled": "throttled"}
UNMATCHED_ROUTE = "unmatched"  # 404s, and requests refused before routing: one series for all of them


def count_event(event: str) -> None:
    """The counter an audit event moves (idp.audit calls this for every event)."""
    if event in _LOGIN_OUTCOMES:
        LOGINS.labels(_LOGIN_OUTCOMES[event]).inc()
    elif event == "refresh.reused":
        REFRESH_REUSE.inc()


def count_request(route: str | None, method: str, status: int, seconds: float | None) -> None:
    """Count and time one request by its URL rule (None: no rule matched) and a method
    from a fixed set: no label takes a value from the request as sent."""
    label = route if route is not None else UNMATCHED_ROUTE
    REQUESTS.labels(label, method, str(status)).inc()
    if seconds is not None:
        LATENCY.labels(label, method).observe(seconds)


def registry() -> CollectorRegistry:
    """What the listener serves: the sum of the worker processes' files, or this process."""
    if os.environ.get(MULTIPROC_ENV):
        collected = CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
        return collected
    return REGISTRY


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """A thread per connection, at most MAX_CONNECTIONS at once: one more is closed
    unanswered, and each handler gives up on a client idle for IDLE_SECONDS."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 64  # the listen backlog: a burst waits to be refused, not for SYN retries

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone or idle too long is routine: no traceback on stderr."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(IDLE_SECONDS)  # a silent client is let go

    def log_message(self, format: str, *args: Any) -> None:
        """wsgiref writes a plain-text line per request on stderr; the logs are JSON."""


def start_for_workers(address: tuple[str, int]) -> Callable[[], None]:
    """For `idp serve`'s parent, before it starts the workers: a fresh directory for their
    counts (an old one would add a previous run's), the listener that sums them, and
    IDP_METRICS_ADDR taken out of the workers' environment, so that none of them tries to
    listen there too. Returns what stops it all; raises OSError when it cannot listen."""
    directory = tempfile.mkdtemp(prefix="idp-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    os.environ.pop("IDP_METRICS_ADDR", None)
    collected = registry()
    collected.register(WORKER_RESTARTS)
    try:
        server = serve(address, collected)
    except OSError:
        shutil.rmtree(directory, ignore_errors=True)
        raise

    def stop() -> None:
        server.shutdown()
        server.server_close()
        shutil.rmtree(directory, ignore_errors=True)

    return stop


def serve(address: tuple[str, int], collected: CollectorRegistry) -> WSGIServer:
    """Serve GET /metrics on address in a daemon thread; raises OSError when it cannot listen."""
    metrics_app = make_wsgi_app(collected)

    def only_metrics(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"metrics are at /metrics\n"]
        served: Iterable[bytes] = metrics_app(environ, start_response)
        return served

    server_class = _ThreadingServer6 if ":" in address[0] else _ThreadingServer
    server = make_server(address[0], address[1], only_metrics, server_class, _QuietHandler)
    threading.Thread(target=server.serve_forever, name="idp-metrics", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics", *server.server_address[:2])
    return server
