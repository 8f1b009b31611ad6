"""The decision at the heart of browser sign-in: with what the request asks, what this
browser has (a signed-in person or none), what that person granted before and what
they did in this interaction, is the next step a login page, a consent page, a code,
or an error for the app? A pure function, so every rule is tested without HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from idp.oauth.redirect_uris import is_native_redirect
from idp.store.interactions import Interaction


class BrowserLike(Protocol):
    """The browser session as the decision reads it."""

    @property
    def sid(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class ClientLike(Protocol):
    @property
    def first_party(self) -> bool: ...
    @property
    def confidential(self) -> bool: ...


@dataclass(frozen=True)
class NeedLogin:
    """Show the login page."""


@dataclass(frozen=True)
class NeedConsent:
    """Show the consent page to the person signed in."""

    user_id: str


@dataclass(frozen=True)
class IssueCode:
    """Answer the app with a code for this person."""

    user_id: str


@dataclass(frozen=True)
class Refuse:
    """Answer the app with an error (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6)."""

    error: str
    description: str


Outcome = NeedLogin | NeedConsent | IssueCode | Refuse


def decide(interaction: Interaction, browser: BrowserLike | None, granted: frozenset[str] | None,
           client: ClientLike, now: datetime) -> Outcome:
    """The next step. `granted` is what the signed-in person allowed this client before
    (None when not looked up: then it counts as nothing)."""
    prompt = interaction.request.prompt
    if browser is None or login_due(interaction, browser, now):
        if "none" in prompt:
            return Refuse("login_required", "The user is not signed in (prompt=none).")
        return NeedLogin()
    if interaction.consented_by != browser.user_id and consent_due(interaction, granted, client):
        if "none" in prompt:
            return Refuse("consent_required", "The user has not allowed this app these scopes (prompt=none).")
        return NeedConsent(browser.user_id)
    return IssueCode(browser.user_id)


def login_due(interaction: Interaction, browser: BrowserLike, now: datetime) -> bool:
    """prompt=login, or a max_age the last password check is older than (OIDC Core
    §3.1.2.1), unless the password was checked in this interaction by this browser."""
    if interaction.login_sid is not None and interaction.login_sid == browser.sid:
        return False
    request = interaction.request
    if "login" in request.prompt:
        return True
    return request.max_age is not None and (now - browser.created_at).total_seconds() > request.max_age


def consent_due(interaction: Interaction, granted: frozenset[str] | None, client: ClientLike) -> bool:
    """Whether the person must answer a consent page before a code is issued."""
    request = interaction.request
    if "consent" in request.prompt:
        return True  # even for a first-party client: the app asked for the question
    if native_public(client, request.redirect_uri):
        return True  # RFC 8252 §8.6: nothing proves which app will receive the code
    if client.first_party:
        return False
    return not set(request.scope.split()) <= (granted or frozenset())


def native_public(client: ClientLike, redirect_uri: str) -> bool:
    """A public client answered on loopback or a private-use scheme: a native app whose
    identity nothing proves, so it never gets a code without the person's answer."""
    return not client.confidential and is_native_redirect(redirect_uri)


def needs_granted(interaction: Interaction, client: ClientLike) -> bool:
    """Whether the decision will read the consents granted before (saves a read when not)."""
    request = interaction.request
    return not ("consent" in request.prompt or client.first_party
                or native_public(client, request.redirect_uri))
