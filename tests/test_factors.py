"""Authenticator apps, recovery codes and the sealing of their keys, without HTTP."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pyotp
import pytest

from idp.accounts import sealing
from idp.accounts.factors import Factors, NothingPending, WrongCode
from idp.settings import ConfigError
from idp.store.factors import FACTORS, FactorStore
from idp.store.mongo import Database
from tests.conftest import ManualClock

USER = "0b7f6f1e-5d0c-4b39-9d3a-2f1d3c4b5a69"


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def factors(db: Database, clock: ManualClock, key: bytes) -> Factors:
    return Factors(FactorStore(db), sealing.Sealer(key), clock, issuer_name="id.example.com")


async def enrolled(factors: Factors, clock: ManualClock) -> tuple[pyotp.TOTP, list[str]]:
    enrolment = await factors.begin_totp(USER, "ann@example.com")
    totp = pyotp.TOTP(enrolment.secret)
    codes = await factors.confirm_totp(USER, totp.at(clock()))
    clock.advance(30)
    return totp, codes


async def test_an_app_is_on_only_after_a_first_right_code(factors: Factors, clock: ManualClock) -> None:
    enrolment = await factors.begin_totp(USER, "ann@example.com")
    assert enrolment.uri.startswith("otpauth://totp/id.example.com:ann%40example.com?secret=")
    assert not (await factors.status(USER)).second_factor
    with pytest.raises(WrongCode):
        await factors.confirm_totp(USER, "000000" if pyotp.TOTP(enrolment.secret).at(clock()) != "000000" else "111111")
    assert not (await factors.status(USER)).second_factor
    codes = await factors.confirm_totp(USER, pyotp.TOTP(enrolment.secret).at(clock()))
    assert len(codes) == 10 and len(set(codes)) == 10
    status = await factors.status(USER)
    assert status.totp_on and status.second_factor and status.recovery_left == 10


async def test_a_code_is_accepted_once_and_an_older_one_never_after(factors: Factors, clock: ManualClock) -> None:
    totp, _ = await enrolled(factors, clock)
    earlier = totp.at(clock() - 30)
    code = totp.at(clock())
    assert await factors.verify_totp(USER, code)
    assert not await factors.verify_totp(USER, code)
    assert not await factors.verify_totp(USER, earlier)  # within the skew, but older than the one accepted
    clock.advance(30)
    assert await factors.verify_totp(USER, totp.at(clock()))


async def test_one_step_of_skew_either_way_and_no_more(factors: Factors, clock: ManualClock) -> None:
    totp, _ = await enrolled(factors, clock)
    assert not await factors.verify_totp(USER, totp.at(clock() - 90))
    assert not await factors.verify_totp(USER, totp.at(clock() + 60))
    assert await factors.verify_totp(USER, totp.at(clock() + 30))
    assert not await factors.verify_totp(USER, "12345")
    assert not await factors.verify_totp(USER, "abcdef")


async def test_concurrent_requests_with_one_code_have_one_winner(factors: Factors, clock: ManualClock) -> None:
    totp, _ = await enrolled(factors, clock)
    code = totp.at(clock())
    results = await asyncio.gather(*(factors.verify_totp(USER, code) for _ in range(10)))
    assert results.count(True) == 1


async def test_recovery_codes_work_once_and_renewal_ends_the_old_ones(factors: Factors, clock: ManualClock) -> None:
    _, codes = await enrolled(factors, clock)
    assert await factors.use_recovery_code(USER, codes[0].upper().replace("-", " "))
    assert not await factors.use_recovery_code(USER, codes[0])
    results = await asyncio.gather(*(factors.use_recovery_code(USER, codes[1]) for _ in range(5)))
    assert results.count(True) == 1
    assert (await factors.status(USER)).recovery_left == 8
    renewed = await factors.renew_recovery_codes(USER)
    assert not await factors.use_recovery_code(USER, codes[2])
    assert await factors.use_recovery_code(USER, renewed[0])
    assert not await factors.use_recovery_code(USER, "")


async def test_switched_off_the_app_accepts_no_code(factors: Factors, clock: ManualClock) -> None:
    totp, codes = await enrolled(factors, clock)
    assert await factors.disable_totp(USER)
    assert not await factors.verify_totp(USER, totp.at(clock()))
    assert not await factors.use_recovery_code(USER, codes[0])
    with pytest.raises(NothingPending):
        await factors.renew_recovery_codes(USER)


async def test_a_second_enrolment_needs_the_first_switched_off(factors: Factors, clock: ManualClock) -> None:
    await enrolled(factors, clock)
    with pytest.raises(NothingPending):
        await factors.begin_totp(USER, "ann@example.com")


async def test_the_key_at_rest_is_sealed(factors: Factors, clock: ManualClock, db: Database, key: bytes) -> None:
    enrolment = await factors.begin_totp(USER, "ann@example.com")
    doc = await db[FACTORS].find_one({"_id": USER})
    assert enrolment.secret not in str(doc)
    # the dump alone opens nothing; another key opens nothing either
    other = Factors(FactorStore(db), sealing.Sealer(os.urandom(32)), clock, "x")
    assert await other.pending_totp(USER, "ann@example.com") is None
    with pytest.raises(WrongCode):
        await other.confirm_totp(USER, pyotp.TOTP(enrolment.secret).at(clock()))
    # and a sealed key moved to another account does not open there
    sealer = sealing.Sealer(key)
    with pytest.raises(sealing.Unsealable):
        sealer.open(doc["totp"]["sealed"], "totp:someone-else")


def test_the_factor_key_comes_from_the_environment_or_a_private_file(tmp_path: Path) -> None:
    raw = os.urandom(32)
    assert sealing.load_key(base64.b64encode(raw).decode(), tmp_path) == raw
    with pytest.raises(ConfigError):
        sealing.load_key(base64.b64encode(b"short").decode(), tmp_path)
    with pytest.raises(ConfigError):
        sealing.load_key("not base64!", tmp_path)
    made = sealing.load_key("", tmp_path / "keys")
    path = tmp_path / "keys" / sealing.KEY_FILE
    assert path.read_bytes() == made and len(made) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert sealing.load_key("", tmp_path / "keys") == made
