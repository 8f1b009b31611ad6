"""Sealing secrets at rest: AES-256-GCM under a key that is not in the database.

An authenticator app's key must be readable by the server (it computes the expected
code), so it cannot be hashed like a password; it is encrypted instead, under a key from
IDP_FACTOR_KEY or, when that is unset, from the file `factor.key` beside the signing
keys. A dump of the database alone then yields no working codes. The user id is bound
into each seal as associated data, so a sealed key copied onto another account does
not open there.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from idp.ops.key_files import read_or_create
from idp.settings import ConfigError

KEY_FILE = "factor.key"
KEY_BYTES = 32
NONCE_BYTES = 12
VERSION = "v1"


class Unsealable(Exception):
    """A sealed value that this key cannot open (another key, or tampered with)."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a sealing key is {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str, context: str) -> bytes:
        version, _, body = sealed.partition(".")
        if version != VERSION:
            raise Unsealable()
        try:
            raw = base64.urlsafe_b64decode(body)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise Unsealable() from None


def load_key(configured: str, keys_dir: Path) -> bytes:
    """The key from IDP_FACTOR_KEY (base64 of 32 bytes), or from keys_dir/factor.key,
    made (mode 0600) at the first start. Raises ConfigError when unusable."""
    if configured:
        try:
            key = base64.b64decode(configured, validate=True)
        except binascii.Error:
            raise ConfigError("IDP_FACTOR_KEY is not base64") from None
        if len(key) != KEY_BYTES:
            raise ConfigError(f"IDP_FACTOR_KEY must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
        return key
    return read_or_create(keys_dir / KEY_FILE, KEY_BYTES, "second-factor key")
