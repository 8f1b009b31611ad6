"""A real SMTP server for tests: aiosmtpd on a free loopback port, in its own thread.

`smtp` starts it; `smtp.stop()` takes it down (connections are refused) and `smtp.start()`
brings it back on the same port; `smtp.refuse_with = "451 ..."` makes it refuse every
message with that answer until set back to None. What it accepted is in `smtp.messages`.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port


class MailServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.refuse_with: str | None = None
        self.refused = 0
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_with is not None:
            self.refused += 1
            return self.refuse_with
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """At least `count` messages, within `timeout` seconds (then whatever arrived)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.messages

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage, issuer: str) -> str:
    """The one link of a message: alone on its line, starting with the issuer."""
    links = [line for line in text_of(message).splitlines() if line.startswith(issuer + "/")]
    assert len(links) == 1, text_of(message)
    assert re.fullmatch(r"\S+", links[0]), links[0]
    return links[0]


def token_of(link: str) -> str:
    return link.partition("token=")[2]


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()
