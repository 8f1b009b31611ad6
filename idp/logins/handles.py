"""Opaque handles `<id>.<secret>`: the id names a record (one `_id` read), the secret
proves possession, and only the secret's hash is stored. Refresh tokens and browser
session cookies are both such handles, each through its own module."""

from __future__ import annotations

import hashlib
import re
import secrets

_HANDLE = re.compile(r"([0-9a-f]{32})\.([A-Za-z0-9_-]{43})")


def secret_hash(secret: str) -> str:
    """SHA-256 is enough for secrets that are long and random (client secrets, handles)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_id() -> str:
    return secrets.token_hex(16)


def new_handle(record_id: str) -> str:
    """A handle for the record `record_id` with a fresh 256-bit secret."""
    return f"{record_id}.{secrets.token_urlsafe(32)}"


def split_handle(value: object) -> tuple[str, str] | None:
    """(id, secret) of a value of the handle's shape; None for anything else."""
    match = _HANDLE.fullmatch(value) if isinstance(value, str) else None
    return (match[1], match[2]) if match else None
