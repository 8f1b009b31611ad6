"""The application factory: the services (idp.wiring), the blueprints and the hooks."""

from __future__ import annotations

import asyncio
import logging
import sys

from pymongo.errors import PyMongoError
from quart import Quart
from quart.ctx import RequestContext
from quart.globals import request_ctx
from quart.typing import ResponseReturnValue

from idp.clock import Clock, system_clock, to_datetime
from idp.http import (
    account, authorize, cors, csrf, early_answers, errors, health, logout, observability, pages, recovery,
    second_step, signup, token, userinfo, users, wellknown,
)
from idp.http.context import attach
from idp.http.asgi import put_in_front
from idp.http.prepared import PreparedAnswers
from idp.oauth import demo
from idp.oauth.clients_file import sync_clients
from idp.ops import logs, metrics
from idp.settings import Settings
from idp.store.migrations import migrate
from idp.store.budget import database_budget
from idp.store.indexes import ensure_indexes
from idp.wiring import Services, build_services

log = logging.getLogger("idp")


class IdentityProvider(Quart):
    """Quart, with one database budget per request (idp.store.budget).

    IDP_DB_TIMEOUT bounds what a request waits for MongoDB in all, every command and
    pool checkout together, not each command. The body is read first, so a client slow
    to send it does not spend the database's time.
    """

    db_timeout: float = 3.0

    async def dispatch_request(self, request_context: RequestContext | None = None) -> ResponseReturnValue:
        current = (request_context or request_ctx).request
        if current.routing_exception is None:  # a 404 or 405 is answered without its body
            await current.get_data(cache=True)
        async with database_budget(self.db_timeout):
            return await super().dispatch_request(request_context)


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> Quart:
    """Build the app; raises ConfigError (one line) when the configuration is unusable."""
    settings = settings or Settings.from_env()
    logs.configure_logging_once()  # plain `hypercorn 'idp.app:create_app()'` logs as `idp serve` does
    app = IdentityProvider("idp", static_folder=None)  # idp.http.pages serves the stylesheet, operator's first
    app.db_timeout = settings.db_timeout
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    services = build_services(settings, clock)
    services.keyring.load()
    attach(app, services)

    for blueprint in (wellknown.bp, health.bp, token.bp, users.bp, authorize.bp, signup.bp, userinfo.bp,
                      logout.bp, account.bp, second_step.bp, recovery.bp):
        app.register_blueprint(blueprint)
    errors.register(app)
    observability.install(app, settings.max_body_bytes)
    pages.install(app, settings)
    csrf.install(app, settings)
    cors.install(app, services.client_entries)
    documents = wellknown.install(app, settings.issuer, services.scopes_supported, services.keyring)
    # outermost: a prepared answer (a GET without a body) needs neither the app nor the
    # wait for an unread body
    put_in_front(app, early_answers.close_when_body_unread)
    put_in_front(app, lambda inner: PreparedAnswers(
        inner, {**documents.answers(), "/healthz": lambda: health.ALIVE},
        observability.SECURITY_HEADERS, settings.trusted_proxies))

    @app.before_serving
    async def _start() -> None:
        await _announce(services)
        try:
            await _prepare_database(services)
        except PyMongoError as exc:
            # Start anyway, /readyz says 503, and keep trying: orchestrators often
            # start the app before the database answers.
            log.error("database not ready at start: %s did not answer (%s); retrying in the background",
                      settings.mongo_hosts, type(exc).__name__)
            services.preparing = asyncio.create_task(_keep_preparing(services))
        if settings.metrics_address:
            _serve_metrics(services, settings.metrics_address)
        if services.mail.sender is not None:
            services.mail.sender.start()

    @app.after_serving
    async def _stop() -> None:
        if services.metrics_server is not None:
            await asyncio.to_thread(services.metrics_server.shutdown)  # waits for its poll: not on the loop
            services.metrics_server.server_close()
        if services.preparing is not None:
            services.preparing.cancel()
        await services.close()  # the mail sender first: a message being sent goes again after its lease

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
    if not services.passkeys.enabled:
        log.warning("passkeys are off: the issuer %s names an IP address, and WebAuthn needs a host name "
                    "(use http://localhost:PORT in development)", settings.issuer)
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
    await sync_clients(services.clients, services.consents, services.client_entries, to_datetime(services.clock()))
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
