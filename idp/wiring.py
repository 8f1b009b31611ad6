"""Building the services: one function for `idp serve`, the app factory and the admin
commands alike, so that every entry point runs the same objects over the same stores."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from idp.accounts.hashing import HashingPool
from idp.accounts.password_check import PasswordCheck
from idp.accounts.recovery import Links, PasswordReset, Verification
from idp.accounts.service import Accounts
from idp.accounts.throttling import Throttle
from idp.clock import Clock
from idp.logins.browser import BrowserSessions
from idp.mail.mail import Mail, build_mail
from idp.logins.service import TokenService
from idp.oauth import demo
from idp.oauth.authlib.bridge import Bridge
from idp.oauth.authlib.codes import Codes
from idp.oauth.authlib.profile import id_token_profile
from idp.oauth.authlib.server import OAuthServer
from idp.oauth.clients_file import ClientEntry, client_registry, read_clients_file
from idp.oauth.oidc import IdTokens
from idp.oauth.protocol import SCOPES_UNDERSTOOD
from idp.oauth.tokens import AccessTokenDecoder, AccessTokenGenerator
from idp.ops.keys import KeyRing
from idp.settings import Settings
from idp.store.clients import ClientStore
from idp.store.codes import CodeStore
from idp.store.consents import ConsentStore
from idp.store.logins import SessionStore
from idp.store.mongo import Database, MongoClient, connect
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
    bridge: Bridge
    hashing: HashingPool
    tokens: TokenService
    oauth: OAuthServer
    accounts: Accounts
    users: UserStore
    sessions: SessionStore
    clients: ClientStore
    client_entries: list[ClientEntry]
    clock: Clock
    password_check: PasswordCheck
    browser: BrowserSessions
    codes: Codes
    consents: ConsentStore
    outbox: OutboxStore
    mail: Mail
    verification: Verification
    password_reset: PasswordReset
    database_prepared: bool = False
    metrics_server: WSGIServer | None = None
    preparing: asyncio.Task[None] | None = None

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
    keyring = KeyRing(settings.keys_dir, settings.access_token_ttl, clock)
    mongo_client, db = connect(settings.mongo_uri, settings.mongo_db, settings.db_timeout)
    users, sessions = UserStore(db), SessionStore(db)
    bridge, hashing = Bridge(settings.io_workers), HashingPool(settings.hash_workers)
    throttle = Throttle(ThrottleStore(db), settings, clock)
    # one IP may keep all but one hashing thread busy, never all of them
    password_check = PasswordCheck(users, throttle, hashing, max(1, settings.hash_workers - 1))
    decoder = AccessTokenDecoder(settings.issuer, settings.audience, keyring)
    tokens = TokenService(sessions, client_registry(entries), decoder, settings, clock)
    generator = AccessTokenGenerator(settings.issuer, settings.audience, settings.access_token_ttl, keyring, clock)
    browser = BrowserSessions(tokens, sessions)
    codes = Codes(CodeStore(db), tokens, browser)
    id_tokens = IdTokens(settings.issuer, settings.access_token_ttl, keyring, clock, id_token_profile(users))
    accounts = Accounts(users, sessions, throttle, password_check, hashing, clock)
    outbox = OutboxStore(db)
    mail = build_mail(settings, outbox, clock)
    links = Links(RecoveryTokenStore(db), settings.issuer, clock)
    verification = Verification(users, links, mail, throttle, settings)
    accounts.verify_with(verification)
    oauth = OAuthServer(tokens, password_check, generator, codes, id_tokens)
    if settings.require_verified_email:
        oauth.may_sign_in = verification.may_sign_in
    return Services(
        settings=settings,
        db=db,
        mongo_client=mongo_client,
        keyring=keyring,
        bridge=bridge,
        hashing=hashing,
        tokens=tokens,
        oauth=oauth,
        accounts=accounts,
        users=users,
        sessions=sessions,
        clients=ClientStore(db),
        client_entries=entries,
        clock=clock,
        password_check=password_check,
        browser=browser,
        codes=codes,
        consents=ConsentStore(db),
        outbox=outbox,
        mail=mail,
        verification=verification,
        password_reset=PasswordReset(accounts, users, links, mail, throttle, verification, settings),
    )
