"""Argon2id password hashing (argon2-cffi, RFC 9106 low-memory defaults).

Hashing and verifying are CPU-bound and synchronous: the server runs them in its hashing
pool (idp.accounts.hashing), never on the event loop.

Passwords are NFKC-normalised before hashing and checking (idp.accounts.rules.normalise_password).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp.accounts.rules import normalise_password

_hasher = PasswordHasher()

# Verifying against this when the e-mail is unknown costs what a real check costs,
# so response time does not tell whether an account exists.
_DUMMY_HASH = _hasher.hash("not a password: used only to spend the time of a real check")


def hash_password(password: str) -> str:
    return _hasher.hash(normalise_password(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when password matches; with no stored hash, spend the same time and say False."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, normalise_password(password)) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)
