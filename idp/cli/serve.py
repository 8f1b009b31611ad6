"""`idp serve`: Hypercorn in worker processes that a small supervisor keeps alive.

The parent binds the listening socket once and starts IDP_WORKERS processes, each
running Hypercorn's own worker loop on that socket. Hypercorn's `run` stops everything
when one worker dies (and says nothing); this supervisor replaces a worker that dies,
logs which one and how it ended, counts it in the metrics, and gives up (exit 1) only
when workers keep dying. On SIGTERM or SIGINT it closes its copy of the listening socket
first and tells every worker to stop: each stops accepting at once, so that the kernel
refuses new connections instead of queueing them for nobody, finishes what it has, and
exits; the parent exits 0. SIGHUP is a rolling restart: new workers start before the old
ones are told to stop, and the socket stays open throughout, so no connection is lost.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import importlib.util
import logging
import multiprocessing
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.synchronize import Event
from types import FrameType
from typing import Any

from hypercorn.config import Config, Sockets

from idp.ops.logs import configure_logging
from idp.settings import Settings

log = logging.getLogger("idp")

APPLICATION_PATH = "idp.app:create_app()"
RESTART_LIMIT = 5  # this many deaths ...
RESTART_WINDOW = 60.0  # ... within this many seconds: something is wrong that a restart will not fix
DRAIN_SECONDS = 10.0  # a stopping worker's bound for the requests in flight
KILL_AFTER = DRAIN_SECONDS + 5.0  # then the parent kills what is left


class WorkerConfig(Config):
    """Hypercorn's config, with its sockets bound once, in the parent.

    The config is pickled into each worker process. Unpickling is the first thing a
    worker does, before it imports the app, so that is where it sets up its logs and
    leaves SIGTERM and SIGINT to the parent: the parent tells each worker when to stop,
    and a signal sent to the whole process group (systemd, Ctrl-C, `kill -- -PGID`) must
    not cut a worker short.
    """

    _bound: Sockets | None = None

    def bind_once(self) -> None:
        self._bound = super().create_sockets()

    def create_sockets(self) -> Sockets:
        assert self._bound is not None, "bind_once() first"
        return self._bound

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_bound", None)  # each worker gets the sockets as an argument
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        configure_logging(logging.INFO)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def serve(settings: Settings) -> int:
    """Serve with Hypercorn in IDP_WORKERS processes; the exit status."""
    from idp.ops import metrics

    _prepare(settings)
    config = _config(settings)
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
        return Supervisor(config, config.create_sockets()).run()
    finally:
        if stop_metrics is not None:
            stop_metrics()


def _config(settings: Settings) -> WorkerConfig:
    config = WorkerConfig()
    config.application_path = APPLICATION_PATH  # each worker builds its app from the environment
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    config.workers = _worker_count(settings)
    config.worker_class = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    config.keep_alive_timeout = settings.keep_alive_timeout
    config.graceful_timeout = DRAIN_SECONDS
    # our own access log (idp.logs) has the request id and never the query string
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


@dataclass
class Worker:
    number: int
    process: SpawnProcess
    stop: Event
    retiring: bool = False  # told to stop: its exit is expected


@dataclass
class Supervisor:
    """Keeps `config.workers` worker processes alive until told to stop."""

    config: WorkerConfig
    sockets: Sockets
    context: SpawnContext = field(default_factory=lambda: multiprocessing.get_context("spawn"))
    workers: list[Worker] = field(default_factory=list)
    deaths: collections.deque[float] = field(default_factory=collections.deque)
    stopping: bool = False
    restart_requested: bool = False
    numbers: int = 0

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hangup)
        for _ in range(self.config.workers):
            self._start_worker()
        status = 0
        while not self.stopping:
            wait([worker.process.sentinel for worker in self.workers], timeout=0.5)
            if self.restart_requested:
                self._roll()
            if not self._reap() and not self.stopping:
                log.error("worker processes keep dying (%d within %.0f s): stopping", len(self.deaths),
                          RESTART_WINDOW)
                self._stop_all()
                status = 1
        self._wait_for_exit()
        return status

    def _start_worker(self) -> None:
        self.numbers += 1
        stop = self.context.Event()
        process = self.context.Process(target=run_worker, name=f"idp-worker-{self.numbers}",
                                       kwargs={"config": self.config, "sockets": self.sockets, "stop": stop})
        process.start()
        self.workers.append(Worker(self.numbers, process, stop))
        log.info("worker %d started (pid %s)", self.numbers, process.pid)

    def _reap(self) -> bool:
        """Replace the workers that died; False when they die too often to go on."""
        for worker in [w for w in self.workers if w.process.exitcode is not None]:
            worker.process.join()
            self.workers.remove(worker)
            if worker.retiring or self.stopping:
                continue
            self._count_death(worker)
            if len(self.deaths) >= RESTART_LIMIT:
                return False
            self._start_worker()
        return True

    def _count_death(self, worker: Worker) -> None:
        from idp.ops import metrics

        now = time.monotonic()
        self.deaths.append(now)
        while self.deaths and self.deaths[0] < now - RESTART_WINDOW:
            self.deaths.popleft()
        metrics.WORKER_RESTARTS.count += 1
        log.error("worker %d (pid %s) died: %s; starting another", worker.number, worker.process.pid,
                  describe_exit(worker.process.exitcode), extra={"fields": {
                      "worker": worker.number, "pid": worker.process.pid,
                      "exit_status": worker.process.exitcode}})

    def _roll(self) -> None:
        """New workers first, then the old ones stop: the socket is served throughout."""
        self.restart_requested = False
        old = [worker for worker in self.workers if not worker.retiring]
        log.info("rolling restart: starting %d new worker(s), then stopping the old ones", len(old))
        for _ in old:
            self._start_worker()
        for worker in old:
            worker.retiring = True
            worker.stop.set()

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            log.info("%s: closing the listening socket and finishing the requests in flight",
                     signal.Signals(signum).name)
        self._stop_all()

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        self.restart_requested = True

    def _stop_all(self) -> None:
        """Stop the kernel completing new connections on the socket and close the parent's
        copy of it first: each worker then takes what the kernel has queued and closes its
        copy, and a later connection is refused instead of queued for nobody and reset."""
        self.stopping = True
        for sock in [*self.sockets.insecure_sockets, *self.sockets.secure_sockets]:
            refuse_new_connections(sock)
            sock.close()
        for worker in self.workers:
            worker.retiring = True
            worker.stop.set()

    def _wait_for_exit(self) -> None:
        deadline = time.monotonic() + KILL_AFTER
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                log.error("worker %d (pid %s) did not finish within %.0f s: killed", worker.number,
                          worker.process.pid, KILL_AFTER)
                worker.process.kill()
                worker.process.join()


# One classic BPF instruction, "return 0": drop every packet. On a listening socket
# this stops new handshakes (their SYNs are dropped; the client's retry is refused once
# the socket is closed) while the connections already queued stay to be accepted.
_SO_ATTACH_FILTER = 26
_DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)


def refuse_new_connections(sock: socket.socket) -> None:
    """Linux only; elsewhere the socket simply closes a moment later."""
    if not sys.platform.startswith("linux"):
        return
    program = ctypes.create_string_buffer(_DROP_ALL)
    fprog = struct.pack("HL", 1, ctypes.addressof(program))
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError as exc:
        log.warning("cannot stop new connections before closing the socket: %s", exc.strerror)


def describe_exit(exitcode: int | None) -> str:
    """`exit status 3`, or `killed by SIGKILL` (multiprocessing's negative exit codes)."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


def run_worker(config: WorkerConfig, sockets: Sockets, stop: Event) -> None:
    """One worker process: Hypercorn's worker loop, stopped by the parent's event."""
    from hypercorn.asyncio.run import worker_serve
    from hypercorn.utils import load_application

    app = load_application(config.application_path, config.wsgi_max_body_size)
    loop_factory = None
    if config.worker_class == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    trigger = partial(_stopped, stop, sockets)
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(worker_serve(app, config, sockets=sockets, shutdown_trigger=trigger))


async def _stopped(stop: Event, sockets: Sockets) -> None:
    """Returns when the parent says stop, once the connections the kernel had already
    accepted on the socket have been taken (up to a short bound): Hypercorn then closes
    the socket, and a connection still queued at that moment would be reset. The parent
    has stopped new handshakes, so the queue only shrinks."""
    while not stop.is_set():
        await asyncio.sleep(0.05)
    deadline = time.monotonic() + 2.0
    while _pending(sockets) and time.monotonic() < deadline:
        await asyncio.sleep(0.005)  # the event loop accepts them meanwhile


def _pending(sockets: Sockets) -> bool:
    """Whether a listening socket has a connection waiting to be accepted."""
    listening: list[socket.socket] = [*sockets.insecure_sockets, *sockets.secure_sockets]
    try:
        readable, _, _ = select.select(listening, [], [], 0)
    except (OSError, ValueError):  # already closed
        return False
    return bool(readable)


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
