"""The application factory: the services (idp.wiring), the blueprints and the hooks."""

from __future__ import annotations

import asyncio
import logging
import sys

from pymongo.errors import PyMongoError
from quart import Quart

from idp.clock import Clock, system_clock, to_datetime
from idp.http import authorize, cors, csrf, errors, health, observability, pages, recovery, token, users, wellknown
from idp.http.context import attach
from idp.oauth import demo
from idp.oauth.clients_file import sync_clients
from idp.ops import logs, metrics
from idp.settings import Settings
from idp.store.migrations import migrate
from idp.store.mongo import ensure_indexes
from idp.wiring import Services, build_services

log = logging.getLogger("idp")


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> Quart:
    """Build the app; raises ConfigError (one line) when the configuration is unusable."""
    settings = settings or Settings.from_env()
    logs.configure_logging_once()  # plain `hypercorn 'idp.app:create_app()'` logs as `idp serve` does
    app = Quart("idp", static_folder=None)  # idp.http.pages serves the stylesheet, operator's first
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    services = build_services(settings, clock)
    services.keyring.load()
    attach(app, services)

    for blueprint in (wellknown.bp, health.bp, token.bp, users.bp, authorize.bp, recovery.bp):
        app.register_blueprint(blueprint)
    errors.register(app)
    observability.install(app, settings.max_body_bytes)
    pages.install(app, settings)
    csrf.install(app, settings)
    cors.install(app, services.client_entries)

    @app.before_serving
    async def _start() -> None:
        await _announce(services)
        try:
            await _prepare_database(services)
        except PyMongoError as exc:
            # Start anyway, /readyz says 503, and keep trying: orchestrators often
            # start the app before the database answers.
            log.error("database not ready at start (%s); retrying in the background", type(exc).__name__)
            services.preparing = asyncio.create_task(_keep_preparing(services))
        if settings.metrics_address:
            _serve_metrics(services, settings.metrics_address)
        if services.mail.sender is not None:
            services.mail.sender.start()

    @app.after_serving
    async def _stop() -> None:
        if services.mail.sender is not None:
            await services.mail.sender.stop()
        if services.metrics_server is not None:
            await asyncio.to_thread(services.metrics_server.shutdown)  # waits for its poll: not on the loop
            services.metrics_server.server_close()
        if services.preparing is not None:
            services.preparing.cancel()
        services.bridge.shutdown()
        services.hashing.shutdown()
        services.mongo_client.close()

    return app


async def _announce(services: Services) -> None:
    settings = services.settings
    if settings.in_memory:
        log.warning(
            "IDP_MONGO_URI is memory://: everything is kept in this process and LOST ON EXIT. "
            "Development only; set IDP_MONGO_URI to a mongodb:// URI in production."
        )
    services.keyring.announce()
    services.mail.announce()
    if demo.clients(settings):
        log.warning("registered the demo client %r: memory:// and no IDP_CLIENTS_FILE", demo.CLIENT_ID)
        print(demo.banner(settings), file=sys.stderr, flush=True)
    if not settings.issuer_is_secure:
        log.warning("IDP_ISSUER %s is plain http and not loopback: tokens and passwords cross "
                    "the network in clear unless a TLS proxy is in front", settings.issuer)


def _serve_metrics(services: Services, address: tuple[str, int]) -> None:
    """The listener of a process on its own; under `idp serve` the parent has it (idp.cli)."""
    try:
        services.metrics_server = metrics.serve(address, metrics.registry())
    except OSError as exc:
        # the app still serves: losing metrics must not take the service down
        log.error("cannot serve metrics on IDP_METRICS_ADDR %s:%d: %s", *address, (exc.strerror or str(exc)).lower())


async def _prepare_database(services: Services) -> None:
    """Indexes, the upgrade of older data, and the clients file: what the database needs
    before serving."""
    await ensure_indexes(services.db)
    await migrate(services.db)
    await sync_clients(services.clients, services.client_entries, to_datetime(services.clock()))
    services.database_prepared = True


async def _keep_preparing(services: Services, first_delay: float = 1.0) -> None:
    delay = first_delay
    while True:
        await asyncio.sleep(delay)
        try:
            await _prepare_database(services)
        except Exception as exc:  # whatever went wrong, this task must not die silently
            delay = min(delay * 2, 30.0)
            log.warning("database still not ready (%s); next try in %.0f s", type(exc).__name__, delay)
        else:
            log.info("database ready")
            return
