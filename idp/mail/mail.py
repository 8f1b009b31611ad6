"""Queueing mail: what the services call. Storing is all a request waits for; the sender
(idp.mail.sender) delivers in the background.

Three modes, chosen once at start: an SMTP server (IDP_SMTP_URL); standard error
(memory:// without IDP_SMTP_URL, for development); off (nothing is stored or sent).
"""

from __future__ import annotations

import logging
from typing import Any

from idp.clock import Clock, to_datetime
from idp.mail.sender import Sender
from idp.mail.templates import MailTemplates
from idp.mail.transport import SmtpServer, SmtpTransport, StderrTransport, Transport
from idp.ops import metrics
from idp.settings import Settings
from idp.store.outbox import Message, OutboxStore

log = logging.getLogger(__name__)


class Mail:
    def __init__(self, store: OutboxStore, templates: MailTemplates, clock: Clock,
                 sender: Sender | None, mode: str) -> None:
        self._store = store
        self._clock = clock
        self.templates = templates
        self.sender = sender
        self.mode = mode  # "smtp://host:port" / "smtps://...", "stderr", or "off"

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def render(self, template: str, to: str, **context: Any) -> Message:
        return self.templates.render(template, to, **context)

    async def send(self, template: str, to: str, **context: Any) -> None:
        """Render a message and queue it."""
        if self.enabled:
            await self._queue(message=self.render(template, to, **context))

    async def send_job(self, kind: str, **job: Any) -> None:
        """Queue a job that the sender turns into a message (or into nothing)."""
        if self.enabled:
            await self._queue(job={"kind": kind, **job})

    async def _queue(self, **what: Any) -> None:
        await self._store.add(to_datetime(self._clock()), **what)
        metrics.MAIL_QUEUED.inc()
        if self.sender is not None:
            self.sender.wake()

    def announce(self) -> None:
        if self.mode == "stderr":
            log.warning("IDP_SMTP_URL is not set: on memory:// every message is printed on standard error")
        elif self.mode == "off":
            log.warning("IDP_SMTP_URL is not set: mail is OFF; password-reset and e-mail verification "
                        "messages are not sent (idp users reset-link and idp users verify still work)")
        else:
            log.info("mail goes to %s", self.mode)


def build_mail(settings: Settings, store: OutboxStore, clock: Clock) -> Mail:
    """The mail of one process: its mode, and the sender the app starts (admin commands
    only queue: the server's senders deliver)."""
    templates = MailTemplates(settings.issuer, settings.pages_dir)
    transport: Transport
    if settings.smtp_url:
        server = SmtpServer.from_url(settings.smtp_url)
        transport, mode = SmtpTransport(server, settings.mail_from), server.describe()
    elif settings.in_memory:
        transport, mode = StderrTransport(settings.mail_from), "stderr"
    else:
        return Mail(store, templates, clock, None, "off")
    return Mail(store, templates, clock, Sender(store, transport, clock), mode)
