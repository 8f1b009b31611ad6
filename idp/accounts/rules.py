"""What a new password must be: 8–256 characters, not one of the most common (ASVS 6.2.4).

No composition rules (NIST 800-63B §3.1.1.2): length and a blocklist do more good.
Every rule applies to the NFKC form (`normalise_password`), the one that is hashed and checked
(NIST 800-63B §5.1.1.2): otherwise "ｐａｓｓｗｏｒｄ１" would pass the list and then log in
as "password1", and "e\u0301" * 4 would pass the minimum as eight characters for four.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib import resources

MIN_LENGTH = 8
MAX_LENGTH = 256


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("idp.accounts").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def normalise_password(password: str) -> str:
    """The form of a password that is hashed, checked, and held to the rules: NFKC, so that
    "é" typed as one code point on one device and as two on another is the same."""
    return unicodedata.normalize("NFKC", password)


def password_problem(password: str) -> str | None:
    """Why this password, already normalised, may not be used, or None if it may."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if password.casefold() in _common_passwords():
        return "is one of the most commonly used passwords; choose another"
    return None
