"""Passkey verification paths a browser cannot easily reach: wrong origin, wrong RP id,
no user verification, a counter that did not grow, a replayed or foreign challenge."""

from __future__ import annotations

import logging

import pytest

from idp.accounts.passkeys import PasskeyRefused, Passkeys, PasskeysOff, relying_party
from idp.store.factors import FactorStore
from idp.store.mongo import Database
from tests.conftest import ManualClock
from tests.webauthn_device import UP, SoftAuthenticator

USER = "0b7f6f1e-5d0c-4b39-9d3a-2f1d3c4b5a69"
ISSUER = "https://id.example.com"
BINDING = "browser-1"


@pytest.fixture
def passkeys(db: Database, clock: ManualClock) -> Passkeys:
    return Passkeys(FactorStore(db), ISSUER, clock)


@pytest.fixture
def device() -> SoftAuthenticator:
    return SoftAuthenticator("id.example.com", ISSUER)


async def register(passkeys: Passkeys, device: SoftAuthenticator, **wrong: object) -> None:
    ceremony = await passkeys.registration_options(USER, "ann@example.com", "Ann", BINDING)
    await passkeys.register(USER, ceremony.challenge_id, BINDING, device.create(ceremony.options_json, **wrong),
                            "Laptop")


async def sign_in(passkeys: Passkeys, device: SoftAuthenticator, **wrong: object) -> str:
    ceremony = await passkeys.authentication_options(BINDING)
    return (await passkeys.authenticate(ceremony.challenge_id, BINDING,
                                        device.get(ceremony.options_json, **wrong))).user_id


def test_the_relying_party_is_the_issuers_host_and_off_for_an_ip_address() -> None:
    assert relying_party("https://id.example.com") == ("id.example.com", "https://id.example.com")
    assert relying_party("http://localhost:8000") == ("localhost", "http://localhost:8000")
    assert relying_party("http://127.0.0.1:8000") is None
    assert relying_party("http://[::1]:8000") is None


async def test_register_then_sign_in_with_nothing_else(passkeys: Passkeys, device: SoftAuthenticator) -> None:
    await register(passkeys, device)
    assert await sign_in(passkeys, device) == USER
    assert await sign_in(passkeys, device) == USER


async def test_options_ask_for_a_discoverable_verified_credential(passkeys: Passkeys) -> None:
    import json

    options = json.loads((await passkeys.registration_options(USER, "a@x.org", "A", BINDING)).options_json)
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["rp"]["id"] == "id.example.com"
    signin = json.loads((await passkeys.authentication_options(BINDING)).options_json)
    assert signin.get("allowCredentials", []) == [] and signin["userVerification"] == "required"


@pytest.mark.parametrize("wrong", [{"origin": "https://evil.example.com"}, {"rp_id": "evil.example.com"},
                                   {"flags": UP}])
async def test_registration_refused(passkeys: Passkeys, device: SoftAuthenticator, wrong: dict) -> None:
    with pytest.raises(PasskeyRefused):
        await register(passkeys, device, **wrong)
    record = await passkeys._store.get(USER)
    assert record is None or not record.passkeys


@pytest.mark.parametrize("wrong", [{"origin": "https://evil.example.com"}, {"origin": "http://id.example.com"},
                                   {"rp_id": "evil.example.com"}, {"flags": UP}])
async def test_sign_in_refused(passkeys: Passkeys, device: SoftAuthenticator, wrong: dict) -> None:
    await register(passkeys, device)
    with pytest.raises(PasskeyRefused):
        await sign_in(passkeys, device, **wrong)
    assert await sign_in(passkeys, device) == USER  # the right one still works


async def test_a_counter_that_did_not_grow_is_refused_and_audited(
        passkeys: Passkeys, device: SoftAuthenticator, caplog: pytest.LogCaptureFixture) -> None:
    await register(passkeys, device)
    device.sign_count = 5
    assert await sign_in(passkeys, device) == USER  # counter 6
    with caplog.at_level(logging.INFO, logger="idp.audit"):
        with pytest.raises(PasskeyRefused):
            await sign_in(passkeys, device, count=6)
        with pytest.raises(PasskeyRefused):
            await sign_in(passkeys, device, count=3)
    events = [r.fields for r in caplog.records if r.name == "idp.audit"]  # type: ignore[attr-defined]
    assert [e["event"] for e in events] == ["passkey.counter_regressed"] * 2
    assert events[0]["user_id"] == USER and events[0]["stored"] == 6


async def test_an_authenticator_without_a_counter_may_keep_zero(passkeys: Passkeys, db: Database,
                                                              device: SoftAuthenticator) -> None:
    await register(passkeys, device)
    assert await sign_in(passkeys, device, count=0) == USER
    assert await sign_in(passkeys, device, count=0) == USER


async def test_a_challenge_works_once(passkeys: Passkeys, device: SoftAuthenticator) -> None:
    await register(passkeys, device)
    ceremony = await passkeys.authentication_options(BINDING)
    response = device.get(ceremony.options_json)
    await passkeys.authenticate(ceremony.challenge_id, BINDING, response)
    with pytest.raises(PasskeyRefused):
        await passkeys.authenticate(ceremony.challenge_id, BINDING, response)


async def test_a_challenge_is_bound_to_who_asked(passkeys: Passkeys, device: SoftAuthenticator) -> None:
    await register(passkeys, device)
    ceremony = await passkeys.authentication_options(BINDING)
    with pytest.raises(PasskeyRefused):
        await passkeys.authenticate(ceremony.challenge_id, "another-browser", device.get(ceremony.options_json))
    with pytest.raises(PasskeyRefused):  # and it was used up by the attempt
        await passkeys.authenticate(ceremony.challenge_id, BINDING, device.get(ceremony.options_json))


async def test_a_challenge_expires(passkeys: Passkeys, device: SoftAuthenticator, clock: ManualClock) -> None:
    await register(passkeys, device)
    ceremony = await passkeys.authentication_options(BINDING)
    clock.advance(301)
    with pytest.raises(PasskeyRefused):
        await passkeys.authenticate(ceremony.challenge_id, BINDING, device.get(ceremony.options_json))


async def test_the_step_after_a_password_wants_that_accounts_passkey(
        passkeys: Passkeys, device: SoftAuthenticator) -> None:
    await register(passkeys, device)
    ceremony = await passkeys.authentication_options(BINDING, user_id="someone-else")
    with pytest.raises(PasskeyRefused):
        await passkeys.authenticate(ceremony.challenge_id, BINDING, device.get(ceremony.options_json),
                                    user_id="someone-else")


async def test_a_removed_passkey_signs_nobody_in(passkeys: Passkeys, device: SoftAuthenticator) -> None:
    await register(passkeys, device)
    from webauthn.helpers import bytes_to_base64url

    assert await passkeys.remove(USER, bytes_to_base64url(device.credential_id))
    with pytest.raises(PasskeyRefused):
        await sign_in(passkeys, device)


async def test_garbage_is_refused_not_crashed(passkeys: Passkeys) -> None:
    for credential in ["", "{}", "[]", '{"id": 1}', "not json"]:
        ceremony = await passkeys.authentication_options(BINDING)
        with pytest.raises(PasskeyRefused):
            await passkeys.authenticate(ceremony.challenge_id, BINDING, credential)
        ceremony = await passkeys.registration_options(USER, "a@x.org", "A", BINDING)
        with pytest.raises(PasskeyRefused):
            await passkeys.register(USER, ceremony.challenge_id, BINDING, credential, "x")


async def test_off_with_an_ip_address_issuer(db: Database, clock: ManualClock) -> None:
    passkeys = Passkeys(FactorStore(db), "http://127.0.0.1:8000", clock)
    assert not passkeys.enabled
    with pytest.raises(PasskeysOff):
        await passkeys.authentication_options(BINDING)
