"""The code lifecycle (idp.logins.codes) over fakes of the store Protocols: single use,
a replay by the code's own client ends the login it started, and nobody else's use of a
code ends anything."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from idp.logins.browser import BrowserSessions
from idp.logins.codes import CodeReplayed, Codes, CodeUnusable, SignInEnded, pkce_s256
from idp.logins.logins import Logins
from idp.logins.refresh import new_refresh_token
from idp.store.records import BrowserSession
from tests.conftest import ManualClock
from tests.logins_fakes import FakeCodes, FakeLogins

USER, STAMP = "user-1", "stamp-1"
VERIFIER = "v" * 43


class Lifecycle:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.logins_store = FakeLogins()
        self.logins_store.lists[USER] = (STAMP, [])
        self.store = FakeCodes()
        self.logins = Logins(self.logins_store, self.clock, refresh_ttl=3600, access_ttl=60, max_per_user=10)
        self.browser = BrowserSessions(self.logins_store, self.logins, self.clock)
        self.codes = Codes(self.store, self.logins, self.browser, self.clock)

    async def signed_in(self) -> BrowserSession:
        return (await self.browser.start(USER, STAMP))[1]

    async def code(self, browser: BrowserSession, client_id: str = "app") -> str:
        return await self.codes.issue(client_id=client_id, redirect_uri=None, scope="openid", nonce=None,
                                      code_challenge=pkce_s256(VERIFIER), browser=browser)

    async def redeem(self, code: str, client_id: str = "app", verifier: str | None = VERIFIER) -> str:
        stored = await self.codes.present(code, client_id, verifier)
        redemption = await self.codes.redeem(stored)
        await self.codes.start_login(redemption, new_refresh_token(redemption.sid))
        return redemption.sid

    def live(self, sid: str) -> bool:
        return sid in self.logins_store.logins


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if getattr(r, "fields", {}).get("event") == name]  # type: ignore[attr-defined]


async def test_a_code_starts_one_login_noted_on_its_browser_session(caplog: pytest.LogCaptureFixture) -> None:
    life = Lifecycle()
    browser = await life.signed_in()
    with caplog.at_level(logging.INFO):
        sid = await life.redeem(await life.code(browser))
    assert life.live(sid) and sid in life.logins_store.started[browser.sid]
    assert [e["sid"] for e in _events(caplog, "code.redeemed")] == [sid]


async def test_a_replay_by_its_client_ends_the_login(caplog: pytest.LogCaptureFixture) -> None:
    life = Lifecycle()
    code = await life.code(await life.signed_in())
    sid = await life.redeem(code)
    with caplog.at_level(logging.INFO), pytest.raises(CodeReplayed):
        await life.codes.present(code, "app", VERIFIER)
    assert not life.live(sid)
    assert [e["sid"] for e in _events(caplog, "code.replayed")] == [sid]


@pytest.mark.parametrize(("client_id", "verifier"), [("other", VERIFIER), ("app", None), ("app", "w" * 43)])
async def test_a_used_code_from_another_client_or_without_its_verifier_ends_nothing(
        client_id: str, verifier: str | None, caplog: pytest.LogCaptureFixture) -> None:
    life = Lifecycle()
    code = await life.code(await life.signed_in())
    sid = await life.redeem(code)
    with caplog.at_level(logging.INFO), pytest.raises(CodeUnusable):
        await life.codes.present(code, client_id, verifier)
    assert life.live(sid)
    assert not _events(caplog, "code.replayed")


async def test_an_unused_code_is_unusable_for_another_client() -> None:
    life = Lifecycle()
    code = await life.code(await life.signed_in())
    with pytest.raises(CodeUnusable):
        await life.codes.present(code, "other", VERIFIER)
    assert await life.redeem(code)  # and still works for its own


async def test_unknown_and_expired_codes_are_unusable() -> None:
    life = Lifecycle()
    code = await life.code(await life.signed_in())
    with pytest.raises(CodeUnusable):
        await life.codes.present("not-a-code", "app", VERIFIER)
    life.clock.advance(61)
    with pytest.raises(CodeUnusable):
        await life.codes.present(code, "app", VERIFIER)


async def test_of_concurrent_redemptions_one_claims_and_the_replay_ends_its_login() -> None:
    life = Lifecycle()
    code = await life.code(await life.signed_in())
    outcomes = await asyncio.gather(*(life.redeem(code) for _ in range(4)), return_exceptions=True)
    assert all(isinstance(o, (CodeReplayed, CodeUnusable)) for o in outcomes), outcomes
    assert any(isinstance(o, CodeReplayed) for o in outcomes)
    assert not life.logins_store.logins  # whoever got there first, the login ended


async def test_a_sign_out_before_the_redemption_ends_the_sign_in() -> None:
    life = Lifecycle()
    browser = await life.signed_in()
    code = await life.code(browser)
    await life.browser.end(browser)
    with pytest.raises(SignInEnded):
        await life.redeem(code)
    assert not life.logins_store.logins


async def test_a_password_change_before_the_redemption_ends_the_sign_in() -> None:
    life = Lifecycle()
    code = await life.code(await life.signed_in())
    life.logins_store.lists[USER] = ("stamp-2", [])
    with pytest.raises(SignInEnded):
        await life.redeem(code)
    assert not life.logins_store.logins
