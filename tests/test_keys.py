"""The key ring: first key, file modes, rotation, retirement, and what the JWKS shows."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import pytest
from joserfc import jwt as jose_jwt

from idp.keys import KeyRing
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


def test_rotate_twice_publishes_three_keys_then_retires_the_old_ones(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    original = keyring.active_kid
    second = keyring.rotate()
    clock.advance(60)
    third = keyring.rotate()
    assert keyring.active_kid == third
    assert sorted(kids(keyring)) == sorted([original, second, third])

    clock.advance(TTL - 60)  # the original was retired TTL seconds ago: nothing it signed lives
    assert sorted(kids(keyring)) == sorted([second, third])
    clock.advance(60)
    assert kids(keyring) == [third]


def test_rotation_prunes_key_files_past_their_window(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    original = keyring.active_kid
    keyring.rotate()
    clock.advance(TTL + 1)
    keyring.rotate()
    assert not (tmp_path / f"{original}.pem").exists()
    assert len(list(tmp_path.glob("*.pem"))) == 2


def test_signer_gets_only_the_active_key(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    keyring.rotate()
    signing = keyring.signing_keys()
    assert [key.kid for key in signing.keys] == [keyring.active_kid]


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
    assert server.active_kid == new
    assert new in kids(server)


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


def test_ring_file_names_the_active_key(tmp_path: Path, clock: ManualClock) -> None:
    keyring = ring(tmp_path, clock)
    new = keyring.rotate()
    assert json.loads((tmp_path / "ring.json").read_text())["active"] == new


def test_key_files_without_a_ring_are_not_silently_replaced(tmp_path: Path, clock: ManualClock) -> None:
    ring(tmp_path, clock)
    (tmp_path / "ring.json").unlink()
    with pytest.raises(ConfigError, match="no ring.json"):
        ring(tmp_path, clock)
