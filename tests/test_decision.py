"""The authorization decision (idp.logins.decision) without HTTP: every rule of when a
person sees a login page, a consent page, or the app gets a code or an error."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from idp.logins.decision import IssueCode, NeedConsent, NeedLogin, Refuse, decide
from idp.logins.interaction import new_interaction
from idp.store.interactions import Interaction, PendingRequest

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Browser:
    sid: str = "b-1"
    user_id: str = "ann"
    created_at: datetime = NOW - timedelta(minutes=5)


@dataclass(frozen=True)
class App:
    first_party: bool = False
    confidential: bool = True


WEB = "https://app.example.com/cb"


def pending(**changes: object) -> Interaction:
    request = PendingRequest(client_id="app", redirect_uri=WEB, sent_redirect_uri=WEB, scope="openid email",
                             state="s", nonce=None, code_challenge="c" * 43)
    return new_interaction(replace(request, **changes), NOW)  # type: ignore[arg-type]


GRANTED = frozenset({"openid", "email"})


def test_no_browser_session_needs_a_login() -> None:
    assert decide(pending(), None, None, App(), NOW) == NeedLogin()


def test_prompt_none_without_a_session_is_login_required() -> None:
    outcome = decide(pending(prompt=frozenset({"none"})), None, None, App(), NOW)
    assert isinstance(outcome, Refuse) and outcome.error == "login_required"


def test_a_signed_in_person_who_granted_the_scopes_gets_a_code() -> None:
    assert decide(pending(), Browser(), GRANTED, App(), NOW) == IssueCode("ann")


def test_a_wider_scope_asks_again() -> None:
    assert decide(pending(), Browser(), frozenset({"openid"}), App(), NOW) == NeedConsent("ann")
    outcome = decide(pending(prompt=frozenset({"none"})), Browser(), frozenset({"openid"}), App(), NOW)
    assert isinstance(outcome, Refuse) and outcome.error == "consent_required"


def test_first_party_skips_consent_but_not_prompt_consent() -> None:
    assert decide(pending(), Browser(), None, App(first_party=True), NOW) == IssueCode("ann")
    asked = pending(prompt=frozenset({"consent"}))
    assert decide(asked, Browser(), GRANTED, App(first_party=True), NOW) == NeedConsent("ann")
    assert decide(replace(asked, consented_by="ann"), Browser(), GRANTED, App(first_party=True), NOW) == IssueCode("ann")


@pytest.mark.parametrize("uri", ["http://127.0.0.1:4711/cb", "http://[::1]:9/cb", "http://localhost:3000/cb",
                                 "com.example.app:/callback"])
def test_a_native_public_client_always_gets_a_page(uri: str) -> None:
    """Nothing proves which local process receives the code (RFC 8252 §8.6)."""
    native = pending(redirect_uri=uri, sent_redirect_uri=uri)
    public_first_party = App(first_party=True, confidential=False)
    assert decide(native, Browser(), GRANTED, public_first_party, NOW) == NeedConsent("ann")
    assert decide(native, Browser(), GRANTED, App(confidential=False), NOW) == NeedConsent("ann")
    # once the person answered in this interaction, the code
    assert decide(replace(native, consented_by="ann"), Browser(), GRANTED, App(confidential=False), NOW) == IssueCode("ann")
    # a confidential client proves itself at the token endpoint: no page needed
    assert decide(native, Browser(), GRANTED, App(confidential=True), NOW) == IssueCode("ann")


def test_a_consent_given_here_counts_only_for_who_gave_it() -> None:
    given = replace(pending(), consented_by="bob")
    assert decide(given, Browser(), frozenset(), App(), NOW) == NeedConsent("ann")


def test_prompt_login_needs_a_password_checked_in_this_interaction_by_this_browser() -> None:
    asked = pending(prompt=frozenset({"login"}))
    assert decide(asked, Browser(), GRANTED, App(), NOW) == NeedLogin()
    assert decide(replace(asked, login_sid="b-1"), Browser(), GRANTED, App(), NOW) == IssueCode("ann")
    # a password checked here by another browser does not sign this one in
    assert decide(replace(asked, login_sid="b-2"), Browser(), GRANTED, App(), NOW) == NeedLogin()


def test_max_age() -> None:
    assert decide(pending(max_age=600), Browser(), GRANTED, App(), NOW) == IssueCode("ann")
    assert decide(pending(max_age=60), Browser(), GRANTED, App(), NOW) == NeedLogin()
    assert decide(replace(pending(max_age=0), login_sid="b-1"), Browser(), GRANTED, App(), NOW) == IssueCode("ann")


def test_the_interaction_id_is_unguessable_and_short_lived() -> None:
    ids = {new_interaction(pending().request, NOW).interaction_id for _ in range(100)}
    assert len(ids) == 100 and all(len(i) >= 43 for i in ids)  # 256 bits, base64url
    interaction = pending()
    assert timedelta(minutes=1) <= interaction.expires_at - interaction.created_at <= timedelta(hours=1)
