"""E-mail addresses: validated and normalised once, compared by a case-insensitive key."""

from __future__ import annotations

import email_validator
from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254

# email-validator refuses every special-use domain (RFC 6761). Corporate directories
# use .local and test environments .test, and their addresses are real to the people
# who log in with them: accept those two, keep refusing .invalid, .onion, .arpa, ...
email_validator.SPECIAL_USE_DOMAIN_NAMES = [
    name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES if name not in ("local", "test")
]


class InvalidEmail(ValueError):
    pass


def normalise(address: str) -> tuple[str, str]:
    """(the address as we store and show it, the key it is unique and looked up by)."""
    if len(address) > MAX_LENGTH:
        raise InvalidEmail(f"must be at most {MAX_LENGTH} characters")
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return result.normalized, result.normalized.casefold()


def lookup_key(username: str) -> str:
    """The key for a login name: an invalid address gets a key that matches no account."""
    try:
        return normalise(username)[1]
    except InvalidEmail:
        return username.strip().casefold()
