"""Random keys kept as files in the keys folder (the pages' CSRF key, the second-factor
sealing key): made at the first start, read at every start, shared by every worker and
every host that shares the folder."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from idp.settings import ConfigError


def read_or_create(path: Path, size: int, what: str, when_wrong: str = "") -> bytes:
    """The key in `path`, made first if no process has yet; ConfigError (naming `what`)
    when it cannot be read or is not `size` bytes."""
    try:
        if not path.exists():
            _create(path, size)
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path} is not usable: {exc.strerror}") from None
    if len(key) != size:
        raise ConfigError(f"{what} {path} is not {size} bytes{when_wrong}")
    return key


def _create(path: Path, size: int) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_once(path, secrets.token_bytes(size))


def write_once(path: Path, data: bytes) -> bool:
    """Write a file with mode 0600 unless it exists: the whole file under a temporary
    name, then linked into place, so processes starting together never read half of it
    and the first link wins while the others read it. False if it existed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True
