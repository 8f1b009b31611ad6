"""Time, injectable so that expiry, rotation and throttling can be tested without waiting."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Seconds since the epoch, like time.time."""

system_clock: Clock = time.time


def to_datetime(seconds: float) -> datetime:
    """The UTC datetime for epoch seconds, truncated to milliseconds as BSON stores it."""
    return datetime.fromtimestamp(int(seconds * 1000) / 1000, UTC)


def rfc3339(moment: datetime) -> str:
    """`2026-11-24T10:00:00Z`: UTC, whole seconds, the form the contract shows."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
