"""Building the services: one function for `idp serve`, the app factory and the admin
commands alike, so that every entry point runs the same objects over the same stores."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIServer

from idp.accounts import sealing
from idp.accounts.factors import Factors
from idp.accounts.hashing import HashingPool
from idp.accounts.passkeys import Passkeys
from idp.accounts.password_check import PasswordCheck
from idp.accounts.recovery import Links, PasswordReset, Verification
from idp.accounts.service import Accounts
from idp.accounts.throttling import Throttle
from idp.clock import Clock
from idp.logins.access import AccessTokens
from idp.logins.browser import BrowserSessions
from idp.logins.codes import Codes
from idp.logins.consents import Consents
from idp.logins.interaction import Interactions
from idp.logins.logins import Logins
from idp.logins.refresh import Refresh
from idp.mail.mail import Mail, build_mail
from idp.oauth import demo
from idp.oauth.authlib.bridge import Bridge
from idp.oauth.authlib.endpoints_async import OAuthEndpoints
from idp.oauth.authlib.profile import id_token_profile
from idp.oauth.authlib.server import OAuthServer
from idp.oauth.authlib.tokens import AccessTokenGenerator, IdTokens
from idp.oauth.clients import ClientRegistry
from idp.oauth.clients_file import ClientEntry, client_registry, read_clients_file
from idp.oauth.protocol import SCOPES_UNDERSTOOD
from idp.oauth.tokens import AccessTokenDecoder
from idp.ops.keys import KeyRing
from idp.settings import Settings
from idp.store.clients import ClientStore
from idp.store.codes import CodeStore
from idp.store.consents import ConsentStore
from idp.store.factors import FactorStore
from idp.store.interactions import InteractionStore
from idp.store.logins import LoginStore
from idp.store.mongo import Database, MongoClient, close, connect
from idp.store.outbox import OutboxStore
from idp.store.recovery_tokens import RecoveryTokenStore
from idp.store.throttle import ThrottleStore
from idp.store.users import UserStore


@dataclass
class Services:
    """Everything a request handler or an admin command may reach."""

    settings: Settings
    db: Database
    mongo_client: MongoClient
    keyring: KeyRing
    hashing: HashingPool
    registry: ClientRegistry
    logins: Logins
    refresh: Refresh
    access: AccessTokens
    oauth: OAuthEndpoints
    accounts: Accounts
    users: UserStore
    login_store: LoginStore
    clients: ClientStore
    client_entries: list[ClientEntry]
    clock: Clock
    password_check: PasswordCheck
    browser: BrowserSessions
    codes: Codes
    consents: Consents
    interactions: Interactions
    factors: Factors
    passkeys: Passkeys
    factor_store: FactorStore
    throttle: Throttle
    outbox: OutboxStore
    mail: Mail
    verification: Verification
    password_reset: PasswordReset
    database_prepared: bool = False
    metrics_server: WSGIServer | None = None
    preparing: asyncio.Task[None] | None = None

    async def close(self) -> None:
        """Stop the mail sender (if the app started it), the pools, and the database client."""
        if self.mail.sender is not None:
            await self.mail.sender.stop()
        self.oauth.shutdown()
        self.hashing.shutdown()
        await close(self.mongo_client)

    @property
    def scopes_supported(self) -> list[str]:
        scopes = set(SCOPES_UNDERSTOOD)
        for entry in self.client_entries:
            scopes.update(entry.scope.split())
        return sorted(scopes)


def build_services(settings: Settings, clock: Clock) -> Services:
    """Every service over one database connection, with no I/O yet: the key ring is
    loaded by the app (admin commands that never sign need no keys folder)."""
    entries = read_clients_file(settings.clients_file) if settings.clients_file else demo.clients(settings)
    registry = client_registry(entries)
    keyring = KeyRing(settings.keys_dir, settings.access_token_ttl, clock)
    mongo_client, db = connect(settings.mongo_uri, settings.mongo_db, settings.db_timeout)
    users, login_store = UserStore(db), LoginStore(db)
    hashing = HashingPool(settings.hash_workers)
    throttle = Throttle(ThrottleStore(db), settings, clock)
    # one IP may keep all but one hashing thread busy, never all of them
    password_check = PasswordCheck(users, throttle, hashing, max(1, settings.hash_workers - 1))
    logins = Logins(login_store, clock, refresh_ttl=settings.refresh_token_ttl,
                    access_ttl=settings.access_token_ttl, max_per_user=settings.max_sessions_per_user)
    refresh = Refresh(login_store, clock, grace_seconds=settings.refresh_reuse_grace)
    access = AccessTokens(login_store, AccessTokenDecoder(settings.issuer, settings.audience, keyring),
                          registry, clock)
    browser = BrowserSessions(login_store, logins, clock)
    codes = Codes(CodeStore(db), logins, browser, clock)
    consents = Consents(ConsentStore(db), clock)
    factor_store = FactorStore(db)
    sealer = sealing.Sealer(sealing.load_key(settings.factor_key, settings.keys_dir))
    factors = Factors(factor_store, sealer, clock, issuer_name=_host(settings.issuer))
    outbox = OutboxStore(db)
    mail = build_mail(settings, outbox, clock)
    links = Links(RecoveryTokenStore(db), settings.issuer, clock)
    verification = Verification(users, links, mail, throttle, settings)
    accounts = Accounts(users, login_store, throttle, password_check, hashing, clock, consents, factors,
                        verification)
    oauth = OAuthServer(
        registry=registry, logins=logins, refresh=refresh, access=access, codes=codes,
        password_check=password_check,
        generator=AccessTokenGenerator(settings.issuer, settings.audience, settings.access_token_ttl, keyring, clock),
        id_tokens=IdTokens(settings.issuer, settings.access_token_ttl, keyring, clock, id_token_profile(users)),
        issuer=settings.issuer, clock=clock, second_factor=factors.refuse_password_alone, verification=verification,
    )
    return Services(
        settings=settings,
        db=db,
        mongo_client=mongo_client,
        keyring=keyring,
        hashing=hashing,
        registry=registry,
        logins=logins,
        refresh=refresh,
        access=access,
        oauth=OAuthEndpoints(oauth, Bridge(settings.io_workers)),
        accounts=accounts,
        users=users,
        login_store=login_store,
        clients=ClientStore(db),
        client_entries=entries,
        clock=clock,
        password_check=password_check,
        browser=browser,
        codes=codes,
        consents=consents,
        interactions=Interactions(InteractionStore(db), logins.now),
        factors=factors,
        passkeys=Passkeys(factor_store, settings.issuer, clock, rp_name=_host(settings.issuer)),
        factor_store=factor_store,
        throttle=throttle,
        outbox=outbox,
        mail=mail,
        verification=verification,
        password_reset=PasswordReset(accounts, users, links, mail, throttle, verification, settings),
    )


def _host(issuer: str) -> str:
    """The name people see for this server in their authenticator app and passkey list."""
    return urlsplit(issuer).hostname or issuer
