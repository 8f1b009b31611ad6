"""Where a message goes: an SMTP server (aiosmtplib), or standard error in development.

A transport raises Refused when the server answered with a permanent refusal (5xx): the
message will never go, so retrying is pointless. Anything else that goes wrong (a 4xx,
no answer, a dropped connection) is temporary and the sender tries again later.
Credentials from IDP_SMTP_URL are handed to the client and never written anywhere.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from idp.store.outbox import Message

SEND_TIMEOUT_SECONDS = 60.0


class Refused(Exception):
    """The mail server refused the message for good (a 5xx answer)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"refused with {code}")
        self.code = code


class Transport(Protocol):
    async def send(self, message: Message) -> None:
        """Deliver one message; raises Refused (permanent) or anything else (try again)."""


def build(message: Message, sender: str) -> EmailMessage:
    """The MIME message: text/plain, and multipart/alternative when there is HTML."""
    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(datetime.now(UTC))
    mime["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    tls: bool  # smtps: TLS from the start; smtp: STARTTLS when the server offers it
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(parts.hostname or "", parts.port or (465 if tls else 25), tls,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password is not None else None)

    def describe(self) -> str:
        """Where mail goes, for the start-up line: never the credentials."""
        return f"{'smtps' if self.tls else 'smtp'}://{self.hostname}:{self.port}"


class SmtpTransport:
    def __init__(self, server: SmtpServer, sender: str) -> None:
        self._server = server
        self._sender = sender

    async def send(self, message: Message) -> None:
        server = self._server
        try:
            await aiosmtplib.send(
                build(message, self._sender), hostname=server.hostname, port=server.port,
                username=server.username, password=server.password, use_tls=server.tls,
                start_tls=False if server.tls else None, timeout=SEND_TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            if codes and all(500 <= code < 600 for code in codes):
                raise Refused(codes[0]) from None
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise Refused(exc.code) from None
            raise


class StderrTransport:
    """Development without a mail server (memory://): each message printed whole, its
    text decoded, so that a link can be clicked in the terminal. On the process's own
    standard error (sys.__stderr__): in a terminal the same, and a test that captures what
    a command prints does not get the server's mail mixed in."""

    def __init__(self, sender: str) -> None:
        self._sender = sender

    async def send(self, message: Message) -> None:
        rule = "-" * 72
        print(f"{rule}\nmail (IDP_SMTP_URL is not set; on memory:// it is printed here)\n"
              f"From: {self._sender}\nTo: {message.to}\nSubject: {message.subject}\n\n"
              f"{message.text.rstrip()}\n{rule}", file=sys.__stderr__ or sys.stderr, flush=True)
