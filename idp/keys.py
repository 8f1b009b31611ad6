"""The key ring: RSA signing keys on disk, the active one for signing, all live ones in the JWKS.

Layout of the keys folder: one `<kid>.pem` per key (PKCS#8, mode 0600) and `ring.json`,
which names the active key and when each older key was retired. A retired key is
published until every token it could have signed has expired (retired_at + the access
token lifetime) and is then dropped; `idp keys rotate` deletes its file at the next
rotation. The ring notices a rotation made by another process (the CLI) through the
modification time of ring.json, so a running server picks the new key up without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from idp.clock import Clock, system_clock
from idp.settings import ConfigError

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
KEY_BITS = 2048
RING_FILE = "ring.json"


@dataclass(frozen=True)
class _Entry:
    kid: str
    key: RSAKey
    retired_at: float | None

    def published_at(self, now: float, token_ttl: int) -> bool:
        return self.retired_at is None or now < self.retired_at + token_ttl


class KeyRing:
    def __init__(self, folder: Path, token_ttl: int, clock: Clock = system_clock) -> None:
        self._folder = Path(folder)
        self._token_ttl = token_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        self._active: _Entry | None = None
        self._loaded_mtime: int | None = None

    # -- loading -------------------------------------------------------------------

    def load(self) -> None:
        """Read the folder; an empty folder gets its first key."""
        with self._lock:
            self._check_folder()
            if not (self._folder / RING_FILE).exists():
                if any(self._folder.glob("*.pem")):
                    raise ConfigError(f"{self._folder} holds .pem files but no {RING_FILE}")
                self._write_ring([self._new_entry()], active=None)
            self._read()

    def _check_folder(self) -> None:
        try:
            self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.listdir(self._folder)
        except OSError as exc:
            raise ConfigError(f"keys folder {self._folder} is not usable: {exc.strerror}") from None
        if not os.access(self._folder, os.R_OK | os.W_OK | os.X_OK):
            raise ConfigError(f"keys folder {self._folder} is not readable and writable")

    def _read(self) -> None:
        ring_path = self._folder / RING_FILE
        try:
            mtime = ring_path.stat().st_mtime_ns
            ring = json.loads(ring_path.read_text())
            entries = [
                _Entry(kid, self._read_key(kid), ring["retired"].get(kid))
                for kid in ring["keys"]
            ]
            active = next(e for e in entries if e.kid == ring["active"])
        except (OSError, ValueError, KeyError, TypeError, StopIteration, JoseError) as exc:
            raise ConfigError(f"keys folder {self._folder} is unreadable: {exc}") from None
        self._entries, self._active, self._loaded_mtime = entries, active, mtime

    def _read_key(self, kid: str) -> RSAKey:
        key = RSAKey.import_key((self._folder / f"{kid}.pem").read_bytes(), parameters=_params(kid))
        if key.thumbprint() != kid:
            raise ValueError(f"{kid}.pem does not hold the key its name says")
        return key

    def _refresh(self) -> None:
        """Re-read the ring when another process (idp keys rotate) changed it."""
        try:
            mtime = (self._folder / RING_FILE).stat().st_mtime_ns
        except OSError:
            return
        if mtime != self._loaded_mtime:
            with self._lock:
                try:
                    self._read()
                except ConfigError as exc:  # keep serving with the keys we have
                    log.error("could not reload signing keys: %s", exc)
                    self._loaded_mtime = mtime

    # -- rotation ------------------------------------------------------------------

    def rotate(self) -> str:
        """Add a new key, make it active, retire the old one; return the new kid."""
        with self._lock:
            self._read()
            now = self._clock()
            kept = [
                e if e.retired_at is not None or e is not self._active
                else _Entry(e.kid, e.key, now)
                for e in self._entries
                if e.published_at(now, self._token_ttl)
            ]
            new = self._new_entry()
            dropped = {e.kid for e in self._entries} - {e.kid for e in kept}
            self._write_ring([*kept, new], active=new.kid)
            for kid in dropped:
                (self._folder / f"{kid}.pem").unlink(missing_ok=True)
            self._read()
            return new.kid

    def _new_entry(self) -> _Entry:
        key = RSAKey.generate_key(KEY_BITS, private=True)
        kid = key.thumbprint()
        _write_private(self._folder / f"{kid}.pem", key.as_pem(private=True))
        return _Entry(kid, self._read_key(kid), None)

    def _write_ring(self, entries: list[_Entry], active: str | None) -> None:
        ring = {
            "active": active or entries[-1].kid,
            "keys": [e.kid for e in entries],
            "retired": {e.kid: e.retired_at for e in entries if e.retired_at is not None},
        }
        _write_private(self._folder / RING_FILE, json.dumps(ring, indent=2).encode())

    # -- use -----------------------------------------------------------------------

    @property
    def active_kid(self) -> str:
        self._refresh()
        assert self._active is not None, "KeyRing.load() was not called"
        return self._active.kid

    def signing_keys(self) -> KeySet:
        """A set holding only the active private key.

        A signer given a set picks a key from it and writes that key's kid into the
        header; given only the active key, it cannot pick a retired one.
        """
        self._refresh()
        assert self._active is not None, "KeyRing.load() was not called"
        return KeySet([self._active.key])

    def verification_keys(self) -> KeySet:
        """Every published key, for checking tokens this server issued."""
        return KeySet(self._published())

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWK Set: never a private member."""
        return {"keys": [key.as_dict(private=False) for key in self._published()]}

    @property
    def version(self) -> tuple[str, ...]:
        """The kids jwks() would publish now: it changes exactly when the JWK Set does
        (a kid is its key's thumbprint), so a prepared answer can be kept until then."""
        self._refresh()
        now = self._clock()
        return tuple(e.kid for e in self._entries if e.published_at(now, self._token_ttl))

    def _published(self) -> list[RSAKey]:
        self._refresh()
        now = self._clock()
        return [e.key for e in self._entries if e.published_at(now, self._token_ttl)]

    @property
    def loaded(self) -> bool:
        return self._active is not None


def _params(kid: str) -> dict[str, str]:
    return {"kid": kid, "alg": ALGORITHM, "use": "sig"}


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically with mode 0600, so a reader never sees half a key or ring."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
