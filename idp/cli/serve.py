"""`idp serve`: Hypercorn in worker processes, with the sockets bound once in the parent."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import signal
import sys
from typing import Any

from hypercorn.config import Config, Sockets

from idp.ops.logs import configure_logging
from idp.settings import Settings

log = logging.getLogger("idp")

APPLICATION_PATH = "idp.app:create_app()"


class WorkerConfig(Config):
    """Hypercorn's config, with its sockets bound once, in the parent.

    Hypercorn pickles the config into each worker process it spawns. Unpickling is the
    first thing a worker does, before it imports the app, so that is where it sets up
    its JSON logs and hands SIGTERM to the parent: the parent tells every worker to
    finish what is in flight (Hypercorn's shutdown event), and a SIGTERM sent to the
    whole process group (systemd, `kill -- -PGID`) must not cut a worker short.
    """

    _bound: Sockets | None = None

    def bind_once(self) -> None:
        self._bound = super().create_sockets()

    def create_sockets(self) -> Sockets:
        assert self._bound is not None, "bind_once() first"
        return self._bound

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_bound", None)  # each worker gets the sockets from Hypercorn itself
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        configure_logging(logging.INFO)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def serve(settings: Settings) -> int:
    """Serve with Hypercorn in IDP_WORKERS processes; the exit status."""
    from hypercorn.run import run

    from idp.ops import metrics

    _prepare(settings)
    config = WorkerConfig()
    config.application_path = APPLICATION_PATH  # each worker builds its app from the environment
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    config.workers = _worker_count(settings)
    config.worker_class = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    config.keep_alive_timeout = settings.keep_alive_timeout
    # our own access log (idp.logs) has the request id and never the query string
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    try:
        config.bind_once()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        print(f"idp: cannot listen on {settings.host}:{settings.port}: {reason}", file=sys.stderr)
        return 1
    try:
        stop_metrics = metrics.start_for_workers(settings.metrics_address) if settings.metrics_address else None
    except OSError as exc:
        print(f"idp: cannot serve metrics on {settings.metrics_addr}: {(exc.strerror or str(exc)).lower()}",
              file=sys.stderr)
        return 1
    log.info("serving on %s with %d worker process(es), %s event loops",
             config.bind[0], config.workers, config.worker_class)
    try:
        return run(config)
    finally:
        if stop_metrics is not None:
            stop_metrics()


def _prepare(settings: Settings) -> None:
    """What must happen once, before any worker starts: build the app once, so that a
    bad setting stops the start with one line, and the key ring creates its first key
    here rather than in several workers at once."""
    from idp.app import create_app
    from idp.http.context import services_of

    asyncio.run(services_of(create_app(settings)).close())


def _worker_count(settings: Settings) -> int:
    if settings.in_memory:
        log.warning("IDP_MONGO_URI is memory://: serving with ONE worker process (IDP_WORKERS=%d not used), "
                    "since each process would keep a store of its own", settings.workers)
        return 1
    return settings.workers

