"""The key ring: first key, file modes, rotation, retirement, and what the JWKS shows."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import jwt
import pytest
from joserfc import jwt as jose_jwt

from idp.ops.keys import JWKS_MAX_AGE, SIGNING_DELAY, KeyRing
from idp.settings import ConfigError
from tests.conftest import ManualClock

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}
TTL = 900


def ring(folder: Path, clock: ManualClock) -> KeyRing:
    keyring = KeyRing(folder, TTL, clock)
    keyring.load()
    return keyring


def kids(keyring: KeyRing) -> list[str]:
    return [key["kid"] for key in keyring.jwks()["keys"]]


def test_empty_folder_gets_one_key_with_private_file_modes(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path / "keys", clock)
    published = keyring.jwks()["keys"]
    assert len(published) == 1
    key = published[0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["kid"] == keyring.active_kid
    assert not PRIVATE_MEMBERS & key.keys()
    for path in (tmp_path / "keys").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_kid_is_the_rfc7638_thumbprint(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    from joserfc.jwk import RSAKey

    key = RSAKey.import_key(keyring.jwks()["keys"][0])
    assert key.thumbprint() == keyring.active_kid


def test_a_restart_keeps_the_same_key(tmp_path: Path, clock: ManualClock) -> None:
    first = ring(tmp_path, clock).active_kid
    assert ring(tmp_path, clock).active_kid == first


def test_a_new_key_is_published_at_once_and_signs_once_every_cache_has_it(tmp_path: Path,
                                                                          clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    original = keyring.active_kid
    new = keyring.rotate()
    assert (new.state, new.until) == ("next", clock.now + SIGNING_DELAY)
    assert SIGNING_DELAY >= JWKS_MAX_AGE
    assert kids(keyring) == [original, new.kid]
    assert keyring.active_kid == original

    clock.advance(SIGNING_DELAY - 1)
    assert [key.kid for key in keyring.signing_keys().keys] == [original]
    clock.advance(1)
    assert [key.kid for key in keyring.signing_keys().keys] == [new.kid]
    assert [(s.kid, s.state, s.until) for s in keyring.describe()] == [
        (original, "retiring", clock.now + TTL), (new.kid, "active", None)]

    clock.advance(TTL - 1)  # a token the original signed last may still be live
    assert kids(keyring) == [original, new.kid]
    clock.advance(1)
    assert kids(keyring) == [new.kid]


def test_rotate_twice_publishes_three_keys_then_retires_the_old_ones(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    original = keyring.active_kid
    second = keyring.rotate()
    clock.advance(60)
    third = keyring.rotate()
    assert [(s.kid, s.state) for s in keyring.describe()] == [
        (original, "active"), (second.kid, "next"), (third.kid, "next")]
    clock.advance(SIGNING_DELAY - 60)
    assert keyring.active_kid == second.kid
    clock.advance(60)
    assert keyring.active_kid == third.kid
    assert [s.state for s in keyring.describe()] == ["retiring", "retiring", "active"]

    clock.advance(TTL - 60)  # the original stopped signing TTL seconds ago: nothing it signed lives
    assert kids(keyring) == [second.kid, third.kid]
    clock.advance(60)
    assert kids(keyring) == [third.kid]


def test_rotation_prunes_key_files_past_their_window(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    original = keyring.active_kid
    keyring.rotate()
    clock.advance(SIGNING_DELAY + TTL)
    keyring.rotate()
    assert not (tmp_path / f"{original}.pem").exists()
    assert len(list(tmp_path.glob("*.pem"))) == 2


def test_the_ring_logs_each_key_it_picks_up_and_each_new_signing_key(
        tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="idp.keys")
    server = ring(tmp_path, clock)
    server.announce()  # at the start of serving
    original = server.active_kid
    new = ring(tmp_path, clock).rotate()  # another process: the CLI
    assert server.active_kid == original
    clock.advance(SIGNING_DELAY)
    assert server.active_kid == new.kid
    messages = [r.getMessage() for r in caplog.records if r.name == "idp.keys"]
    assert f"signing key {original} picked up: active" in messages
    assert any(m.startswith(f"signing key {new.kid} picked up: next, signs from ") for m in messages)
    assert f"signing key {new.kid} is now active" in messages
    assert sum(original in m for m in messages) == 1


def test_a_ring_written_before_pre_publication_is_read_as_the_same_history(tmp_path: Path,
                                                                           clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    old, older = keyring.active_kid, ring(tmp_path / "other", clock).active_kid
    (tmp_path / f"{older}.pem").write_bytes((tmp_path / "other" / f"{older}.pem").read_bytes())
    (tmp_path / "ring.json").write_text(json.dumps(
        {"active": old, "keys": [older, old], "retired": {older: clock.now - 100}}))
    legacy = ring(tmp_path, clock)
    assert [(s.kid, s.state, s.until) for s in legacy.describe()] == [
        (older, "retiring", clock.now - 100 + TTL), (old, "active", None)]
    assert legacy.active_kid == old


def test_signer_gets_only_the_active_key(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    original = keyring.active_kid
    keyring.rotate()
    signing = keyring.signing_keys()
    assert [key.kid for key in signing.keys] == [original]


def test_a_token_signed_by_the_ring_verifies_with_pyjwt_against_the_jwks(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    keyring.rotate()
    token = jose_jwt.encode({"alg": "RS256", "typ": "at+jwt"}, {"sub": "x"}, keyring.signing_keys())
    header = jwt.get_unverified_header(token)
    assert header["kid"] == keyring.active_kid
    key = jwt.PyJWKSet.from_dict(keyring.jwks())[header["kid"]]
    assert jwt.decode(token, key, algorithms=["RS256"])["sub"] == "x"


def test_a_running_ring_sees_a_rotation_made_by_another_process(tmp_path: Path, clock: ManualClock) -> None:
    server = ring(tmp_path, clock)
    cli = ring(tmp_path, clock)
    new = cli.rotate()
    assert new.kid in kids(server)
    clock.advance(SIGNING_DELAY)
    assert server.active_kid == new.kid


def test_unreadable_ring_stops_the_start(tmp_path: Path, clock: ManualClock) -> None:
    ring(tmp_path, clock)
    (tmp_path / "ring.json").write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        ring(tmp_path, clock)


def test_a_key_file_that_does_not_match_its_name_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    other = ring(tmp_path / "other", clock)
    (tmp_path / f"{keyring.active_kid}.pem").write_bytes(
        (tmp_path / "other" / f"{other.active_kid}.pem").read_bytes()
    )
    with pytest.raises(ConfigError):
        ring(tmp_path, clock)


def test_a_keys_path_that_is_a_file_stops_the_start(tmp_path: Path, clock: ManualClock) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not usable"):
        ring(tmp_path / "file", clock)


def test_ring_file_lists_each_key_with_its_times(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    first = keyring.active_kid
    new = keyring.rotate()
    assert json.loads((tmp_path / "ring.json").read_text()) == {"keys": [
        {"kid": first, "created": clock.now, "signs_from": clock.now},
        {"kid": new.kid, "created": clock.now, "signs_from": clock.now + SIGNING_DELAY}]}


def test_key_files_without_a_ring_are_not_silently_replaced(tmp_path: Path, clock: ManualClock) -> None:
    ring(tmp_path, clock)
    (tmp_path / "ring.json").unlink()
    with pytest.raises(ConfigError, match="no ring.json"):
        ring(tmp_path, clock)


def test_hosts_starting_at_once_on_an_empty_shared_folder_agree_on_one_first_key(
        tmp_path: Path, clock: ManualClock) -> None:
    """Several hosts (here: rings of their own, as separate processes have) started
    together on one new keys folder: every start succeeds and each host keeps, from its
    very first token, the one key that the folder's ring publishes."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    hosts = 4
    for attempt in range(5):
        folder = tmp_path / f"keys{attempt}"
        barrier = Barrier(hosts)

        def start() -> tuple[str, list[str]]:
            keyring = KeyRing(folder, TTL, clock)
            barrier.wait()
            keyring.load()
            first_kid = keyring.active_kid
            return first_kid, kids(keyring)

        with ThreadPoolExecutor(hosts) as pool:
            started = list(pool.map(lambda _: start(), range(hosts)))
        assert len({kid for kid, _ in started}) == 1, started
        assert all(published == [started[0][0]] for _, published in started), started
        assert [p.name for p in folder.glob("*.pem")] == [f"{started[0][0]}.pem"]
