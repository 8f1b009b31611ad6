"""The application factory: wires settings, store, key ring, OAuth server and blueprints."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from pymongo.errors import PyMongoError
from quart import Quart, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from idp import audit, cors, csrf, demo, errors, logs, metrics, pages
from idp.accounts import Accounts
from idp.api import authorize, health, oauth, users, wellknown
from idp.bridge import Bridge
from idp.clients_file import ClientEntry, client_registry, read_clients_file, sync_clients
from idp.clock import Clock, system_clock, to_datetime
from idp.credentials import PasswordCheck
from idp.keys import KeyRing
from idp.oauth.browser import BrowserSessions
from idp.oauth.codes import Codes
from idp.oauth.oidc import IdTokens
from idp.oauth.server import OAuthServer
from idp.oauth.service import TokenService
from idp.oauth.tokens import AccessTokenDecoder, AccessTokenGenerator
from idp.protocol import SCOPES_UNDERSTOOD
from idp.settings import Settings
from idp.store.clients import ClientStore
from idp.store.codes import CodeStore
from idp.store.consents import ConsentStore
from idp.store.migrations import migrate
from idp.store.mongo import Database, connect, ensure_indexes
from idp.store.sessions import SessionStore
from idp.store.throttle import ThrottleStore
from idp.store.users import UserStore
from idp.throttling import Throttle

log = logging.getLogger("idp")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


@dataclass
class Services:
    """Everything a request handler may reach, kept in app.extensions["idp"]."""

    settings: Settings
    db: Database
    mongo_client: Any
    keyring: KeyRing
    bridge: Bridge
    tokens: TokenService
    oauth: OAuthServer
    accounts: Accounts
    clients: ClientStore
    client_entries: list[ClientEntry]
    clock: Clock
    password_check: PasswordCheck
    browser: BrowserSessions
    codes: Codes
    consents: ConsentStore
    database_prepared: bool = False
    metrics_server: WSGIServer | None = None
    preparing: asyncio.Task[None] | None = None

    @property
    def scopes_supported(self) -> list[str]:
        scopes = set(SCOPES_UNDERSTOOD)
        for entry in self.client_entries:
            scopes.update(entry.scope.split())
        return sorted(scopes)


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> Quart:
    """Build the app; raises ConfigError (one line) when the configuration is unusable."""
    settings = settings or Settings.from_env()
    logs.configure_logging_once()  # plain `hypercorn 'idp.app:create_app()'` logs as `idp serve` does
    app = Quart("idp", static_folder=None)  # idp.pages serves the stylesheet, operator's first
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.extensions["idp"] = services = _build_services(settings, clock)

    for blueprint in (wellknown.bp, health.bp, oauth.bp, users.bp, authorize.bp):
        app.register_blueprint(blueprint)
    errors.register(app)
    logs.install(app)
    audit.install(app)
    metrics.install(app)
    pages.install(app, settings)
    csrf.install(app, settings)
    cors.install(app, services.client_entries)

    @app.before_serving
    async def _start() -> None:
        if settings.in_memory:
            log.warning(
                "IDP_MONGO_URI is memory://: everything is kept in this process and LOST ON EXIT. "
                "Development only; set IDP_MONGO_URI to a mongodb:// URI in production."
            )
        services.keyring.announce()
        if demo.clients(settings):
            log.warning("registered the demo client %r: memory:// and no IDP_CLIENTS_FILE", demo.CLIENT_ID)
            print(demo.banner(settings), file=sys.stderr, flush=True)
        if not settings.issuer_is_secure:
            log.warning("IDP_ISSUER %s is plain http and not loopback: tokens and passwords cross "
                        "the network in clear unless a TLS proxy is in front", settings.issuer)
        try:
            await _prepare_database(services)
        except PyMongoError as exc:
            # Start anyway, /readyz says 503, and keep trying: orchestrators often
            # start the app before the database answers.
            log.error("database not ready at start (%s); retrying in the background", type(exc).__name__)
            services.preparing = asyncio.create_task(_keep_preparing(services))
        if settings.metrics_address:
            _serve_metrics(services, settings.metrics_address)

    @app.after_serving
    async def _stop() -> None:
        if services.metrics_server is not None:
            await asyncio.to_thread(services.metrics_server.shutdown)  # waits for its poll: not on the loop
            services.metrics_server.server_close()
        if services.preparing is not None:
            services.preparing.cancel()
        services.bridge.shutdown()
        services.mongo_client.close()

    @app.before_request
    async def _refuse_large_bodies() -> None:
        """A declared length over the limit is 413 before anything else (authentication
        included) looks at the request; Quart enforces the limit again while reading."""
        if (request.content_length or 0) > settings.max_body_bytes:
            raise RequestEntityTooLarge()

    @app.after_request
    async def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app


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


def _build_services(settings: Settings, clock: Clock) -> Services:
    entries = read_clients_file(settings.clients_file) if settings.clients_file else demo.clients(settings)
    keyring = KeyRing(settings.keys_dir, settings.access_token_ttl, clock)
    keyring.load()
    mongo_client, db = connect(settings.mongo_uri, settings.mongo_db, settings.db_timeout)
    users, sessions = UserStore(db), SessionStore(db)
    bridge = Bridge(settings.io_workers, settings.hash_workers)
    throttle = Throttle(ThrottleStore(db), settings, clock)
    password_check = PasswordCheck(users, throttle)
    decoder = AccessTokenDecoder(settings.issuer, settings.audience, keyring)
    tokens = TokenService(sessions, client_registry(entries), decoder, settings, clock)
    generator = AccessTokenGenerator(settings.issuer, settings.audience, settings.access_token_ttl, keyring, clock)
    browser = BrowserSessions(tokens, sessions)
    codes = Codes(CodeStore(db), tokens, browser)
    id_tokens = IdTokens(settings.issuer, settings.access_token_ttl, keyring, clock)
    return Services(
        settings=settings,
        db=db,
        mongo_client=mongo_client,
        keyring=keyring,
        bridge=bridge,
        tokens=tokens,
        oauth=OAuthServer(tokens, password_check, generator, codes, id_tokens),
        accounts=Accounts(users, sessions, throttle, password_check, bridge, clock),
        clients=ClientStore(db),
        client_entries=entries,
        clock=clock,
        password_check=password_check,
        browser=browser,
        codes=codes,
        consents=ConsentStore(db),
    )

