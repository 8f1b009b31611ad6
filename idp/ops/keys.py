"""The key ring: RSA signing keys on disk, one signing, every live one in the JWKS.

Layout of the keys folder: one `<kid>.pem` per key (PKCS#8, mode 0600) and `ring.json`,
which lists the keys in the order they start signing, each with when it was created and
when it signs from. Every state follows from those times and the clock:

- next: published in the JWKS, not signing yet. A new key waits JWKS_MAX_AGE (plus a
  margin for the clocks of several hosts) before it signs, so that every cache of the
  JWKS has fetched it by then and no resource server meets a kid it does not know;
- active: the latest key whose time has come; it signs;
- retiring: replaced, still published until every token it signed has expired (its
  successor's start + the access token lifetime), then dropped; `idp keys rotate`
  deletes its file at the next rotation.

The ring notices a rotation made by another process (the CLI) through the modification
time of ring.json, so a running server picks the new key up without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from joserfc.errors import JoseError
from joserfc.jwk import Key, KeyParameters, KeySet, RSAKey

from idp.clock import Clock, rfc3339, system_clock, to_datetime
from idp.ops.key_files import write_once
from idp.settings import ConfigError

log = logging.getLogger("idp.keys")

ALGORITHM = "RS256"
KEY_BITS = 2048
RING_FILE = "ring.json"

JWKS_MAX_AGE = 300
"""Seconds a client may cache the JWKS (its Cache-Control max-age)."""
CLOCK_MARGIN = 60
"""Seconds added to JWKS_MAX_AGE before a new key signs: for hosts whose clocks differ
and caches that fetched a little late."""
SIGNING_DELAY = JWKS_MAX_AGE + CLOCK_MARGIN

State = Literal["next", "active", "retiring"]


@dataclass(frozen=True)
class _Entry:
    kid: str
    key: RSAKey
    created: float
    signs_from: float


@dataclass(frozen=True)
class KeyState:
    """A published key as an operator sees it. `until`: for a next key, when it starts
    signing; for the active key, when its successor takes over (None: until a rotation);
    for a retiring key, when it leaves the JWKS."""

    kid: str
    created: float
    state: State
    until: float | None


def _states(entries: list[_Entry], now: float, token_ttl: int) -> list[tuple[_Entry, KeyState]]:
    """The published entries with their states at `now` (entries in signing order)."""
    published = []
    for index, entry in enumerate(entries):
        successor = entries[index + 1].signs_from if index + 1 < len(entries) else None
        state: State
        until: float | None
        if entry.signs_from > now and index > 0:
            state, until = "next", entry.signs_from
        elif successor is None or successor > now:
            state, until = "active", successor
        else:
            state, until = "retiring", successor + token_ttl
            if now >= until:
                continue
        published.append((entry, KeyState(entry.kid, entry.created, state, until)))
    return published


class KeyRing:
    def __init__(self, folder: Path, token_ttl: int, clock: Clock = system_clock, *, announce: bool = True) -> None:
        """announce: log each key picked up on a re-read and each change of the signing
        key (a server does; a command that prints its own report does not)."""
        self._folder = Path(folder)
        self._token_ttl = token_ttl
        self._clock = clock
        self._announce = announce
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        self._loaded_mtime: int | None = None
        self._announced_active: str | None = None

    @property
    def folder(self) -> Path:
        return self._folder

    def has_ring(self) -> bool:
        """True when the folder holds a key ring (its ring.json)."""
        return (self._folder / RING_FILE).is_file()

    # -- loading -------------------------------------------------------------------

    def load(self) -> None:
        """Read the folder; an empty folder gets its first key, signing at once (no cache
        can hold an older JWKS of this ring)."""
        with self._lock:
            self._check_folder()
            if not (self._folder / RING_FILE).exists():
                self._make_first_key()
            self._read()

    def _make_first_key(self) -> None:
        """The first key of a new folder. Several hosts sharing the folder may start at
        once: each makes a key, the first ring linked into place wins, and the others
        drop their key and read that ring, so every host signs with the one key published.
        Key files without a ring are refused, unless a ring follows them at once (another
        host between writing its key and its ring)."""
        if any(self._folder.glob("*.pem")) and not _ring_appears(self._folder / RING_FILE):
            raise ConfigError(f"{self._folder} holds .pem files but no {RING_FILE}")
        if (self._folder / RING_FILE).exists():
            return
        now = self._clock()
        first = self._new_entry(now, now)
        if not write_once(self._folder / RING_FILE, _ring_json([first])):
            (self._folder / f"{first.kid}.pem").unlink(missing_ok=True)

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
            listed = _listed_keys(json.loads(ring_path.read_text()))
            entries = [_Entry(kid, self._read_key(kid), created, signs_from)
                       for kid, created, signs_from in listed]
            if not entries:
                raise ValueError(f"{RING_FILE} lists no key")
        except (OSError, ValueError, KeyError, TypeError, JoseError) as exc:
            raise ConfigError(f"keys folder {self._folder} is unreadable: {exc}") from None
        known = {e.kid for e in self._entries}
        self._entries, self._loaded_mtime = entries, mtime
        if self._announce and known:  # a re-read: say what is new (announce() said the rest)
            for _, state in _states(entries, self._clock(), self._token_ttl):
                if state.kid not in known:
                    _log_pick_up(state)

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

    def announce(self) -> None:
        """Log each published key and its state: what a server starts with."""
        for state in self.describe():
            _log_pick_up(state)

    # -- rotation ------------------------------------------------------------------

    def rotate(self) -> KeyState:
        """Add a new key that signs once every cache has seen it (SIGNING_DELAY from now);
        drop the keys whose tokens have all expired. Returns the new key's state."""
        with self._lock:
            self._read()
            now = self._clock()
            kept = [entry for entry, _ in _states(self._entries, now, self._token_ttl)]
            new = self._new_entry(now, max(now + SIGNING_DELAY, kept[-1].signs_from))
            dropped = {e.kid for e in self._entries} - {e.kid for e in kept}
            self._write_ring([*kept, new])
            for kid in dropped:
                (self._folder / f"{kid}.pem").unlink(missing_ok=True)
            self._read()
        return next(state for state in self.describe() if state.kid == new.kid)

    def _new_entry(self, now: float, signs_from: float) -> _Entry:
        key = RSAKey.generate_key(KEY_BITS, private=True)
        kid = key.thumbprint()
        _write_private(self._folder / f"{kid}.pem", key.as_pem(private=True))
        return _Entry(kid, self._read_key(kid), now, signs_from)

    def _write_ring(self, entries: list[_Entry]) -> None:
        _write_private(self._folder / RING_FILE, _ring_json(entries))

    # -- use -----------------------------------------------------------------------

    def describe(self) -> list[KeyState]:
        """Every published key and its state now, oldest first."""
        return [state for _, state in self._current()]

    def _current(self) -> list[tuple[_Entry, KeyState]]:
        self._refresh()
        assert self._entries, "KeyRing.load() was not called"
        return _states(self._entries, self._clock(), self._token_ttl)

    def _active(self) -> _Entry:
        active = next(entry for entry, state in self._current() if state.state == "active")
        if self._announce and active.kid != self._announced_active:
            if self._announced_active is not None:
                log.info("signing key %s is now active", active.kid,
                         extra={"fields": {"kid": active.kid, "key_state": "active"}})
            self._announced_active = active.kid
        return active

    @property
    def active_kid(self) -> str:
        return self._active().kid

    def signing_keys(self) -> KeySet:
        """A set holding only the active private key.

        A signer given a set picks a key from it and writes that key's kid into the
        header; given only the active key, it cannot pick a retired or a next one.
        """
        return KeySet([self._active().key])

    def verification_keys(self) -> KeySet:
        """Every published key, for checking tokens this server issued."""
        published: list[Key] = list(self._published())
        return KeySet(published)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWK Set: never a private member."""
        return {"keys": [key.as_dict(private=False) for key in self._published()]}

    @property
    def version(self) -> tuple[str, ...]:
        """The kids jwks() would publish now: it changes exactly when the JWK Set does
        (a kid is its key's thumbprint), so a prepared answer can be kept until then."""
        return tuple(entry.kid for entry, _ in self._current())

    def _published(self) -> list[RSAKey]:
        return [entry.key for entry, _ in self._current()]

    @property
    def loaded(self) -> bool:
        return bool(self._entries)


def _listed_keys(ring: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(kid, created, signs_from) of each key in signing order.

    A ring written before pre-publication ({"active", "keys", "retired": {kid: when}})
    is read as the same history: each retired key signed until its retirement, which is
    when the next one started; the active key signs now.
    """
    if "active" not in ring:
        return [(k["kid"], float(k["created"]), float(k["signs_from"])) for k in ring["keys"]]
    retired: dict[str, float] = ring["retired"]
    order = sorted(retired, key=retired.__getitem__) + [ring["active"]]
    starts = [0.0] + [float(retired[kid]) for kid in order[:-1]]
    return [(kid, start, start) for kid, start in zip(order, starts, strict=True)]


def _log_pick_up(state: KeyState) -> None:
    log.info("signing key %s picked up: %s%s", state.kid, state.state, _until(state),
             extra={"fields": {"kid": state.kid, "key_state": state.state}})


def _until(state: KeyState) -> str:
    if state.until is None:
        return ""
    word = {"next": "signs from", "active": "signs until", "retiring": "published until"}[state.state]
    return f", {word} {_iso(state.until)}"


def _iso(seconds: float) -> str:
    return rfc3339(to_datetime(seconds))


def _params(kid: str) -> KeyParameters:
    return {"kid": kid, "alg": ALGORITHM, "use": "sig"}


def _ring_json(entries: list[_Entry]) -> bytes:
    ring = {"keys": [{"kid": e.kid, "created": e.created, "signs_from": e.signs_from} for e in entries]}
    return json.dumps(ring, indent=2).encode()


FIRST_RING_WAIT = 2.0
"""Seconds to wait for the ring of a host that wrote its first key a moment ago."""


def _ring_appears(path: Path) -> bool:
    deadline = time.monotonic() + FIRST_RING_WAIT
    while not path.exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


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
