"""The messages' words: Jinja templates, the operator's (IDP_PAGES_DIR/mail/) before ours.

A template `<name>.txt` is the text part: its first line is `Subject: ...`, then a blank
line, then the body. `<name>.html`, if there is one, becomes an HTML alternative. Links
stand alone on their own line, so that every mail program makes them clickable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

from idp.store.outbox import Message

BUILT_IN = Path(__file__).parent / "templates"


class MailTemplates:
    def __init__(self, issuer: str, pages_dir: Path | None) -> None:
        folders = [BUILT_IN] if pages_dir is None else [pages_dir / "mail", BUILT_IN]
        self._issuer = issuer
        self._env = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(folder)) for folder in folders]),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined, keep_trailing_newline=True,
        )

    def render(self, name: str, to: str, **context: Any) -> Message:
        """The message `name` for the address `to`; raises ValueError when the text
        template has no `Subject:` line."""
        # `site` (the issuer's host) names the server in prose: a notice must hold no link
        context = {"issuer": self._issuer, "site": urlsplit(self._issuer).netloc, "email": to, **context}
        head, _, body = self._env.get_template(f"{name}.txt").render(context).partition("\n\n")
        if not head.startswith("Subject:"):
            raise ValueError(f"mail template {name}.txt must start with a 'Subject: ...' line and a blank line")
        try:
            html: str | None = self._env.get_template(f"{name}.html").render(context)
        except TemplateNotFound:
            html = None
        return Message(to, head.removeprefix("Subject:").strip(), body.strip() + "\n", html)
