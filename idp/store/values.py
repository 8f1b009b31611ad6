"""Guards for values that go into queries: a dict where a string belongs is an injection."""

from __future__ import annotations


def text(value: object) -> str:
    """Return value if it is a str; anything else (a dict like {"$ne": null}) is refused."""
    if type(value) is not str:
        raise TypeError(f"query value must be a string, not {type(value).__name__}")
    return value
