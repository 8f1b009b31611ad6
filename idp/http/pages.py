"""The hosted HTML pages: their templates and stylesheet, their headers and their error page.

Templates live in idp/http/templates and the stylesheet in idp/http/static. An operator who sets
IDP_PAGES_DIR to a folder holding `templates/` and/or `static/` replaces any of them by
putting a file of the same name there; the others stay built in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader
from quart import Quart, Response, render_template, send_from_directory
from werkzeug.exceptions import NotFound

from idp.oauth.origins import web_origin
from idp.settings import ConfigError, Settings

PACKAGE = Path(__file__).parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"

# What each scope this server understands lets an app do, said for the person asked.
SCOPE_DESCRIPTIONS = {
    "openid": "Know who you are: your account's identifier on this server.",
    "profile": "See your name.",
    "email": "See your e-mail address and whether it has been confirmed.",
    "account": "Manage your account: see it and change your name. Changing your e-mail "
               "or password, or deleting the account, still needs your password.",
}


@dataclass(frozen=True)
class ScopeLine:
    name: str
    description: str


def describe_scopes(scope: str) -> list[ScopeLine]:
    """One line per scope, in the order asked, for the consent page."""
    return [
        ScopeLine(name, SCOPE_DESCRIPTIONS.get(name, f"Use the permission “{name}” that this app is registered for."))
        for name in dict.fromkeys(scope.split())
    ]


@dataclass(frozen=True)
class Link:
    """Where a page sends the person next, and the words of the link."""

    url: str
    label: str


class PageError(Exception):
    """An error shown to a person as the error page (never a redirect, never JSON): a
    title, what happened and what to do next in plain words, and a link where there is one."""

    def __init__(self, status: int, title: str, message: str, link: Link | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.link = link


def csp_source(uri: str) -> str | None:
    """The CSP source expression that lets a form's answer redirect to `uri`: its origin for
    http(s), its scheme for a native app's private-use scheme (CSP3 §2.3.1); None for an
    IPv6 literal host, which CSP cannot name (and naming `http:` instead would let a form
    post to any plain-http site)."""
    origin = web_origin(uri)
    if origin is None:
        scheme = uri.partition(":")[0].lower()
        return None if scheme in ("http", "https") else f"{scheme}:"
    if origin.partition("://")[2].startswith("["):
        return None
    return origin


def expressible(uri: str) -> bool:
    """Whether a page's form-action can name `uri` (a form's answer may redirect there)."""
    return csp_source(uri) is not None


def page_csp(form_targets: Iterable[str] = (), images: Iterable[str] = (), scripts: bool = False) -> str:
    """The Content-Security-Policy of a page: its own stylesheet and images, no script, no
    framing, and forms that post to this server. Browsers also hold a form's redirect to
    form-action, so a form whose answer redirects to an app (login, consent) names the
    app's redirect URI in `form_targets`; `images` adds a client's logo; `scripts` allows
    the passkey steps' script, from this server's own files only (never inline)."""
    targets = [source for source in (csp_source(uri) for uri in form_targets) if source is not None]
    sources = " ".join(["'self'", *dict.fromkeys(targets)])
    image_sources = " ".join(["'self'", *dict.fromkeys(o for o in (web_origin(u) for u in images) if o)])
    script = "script-src 'self'; connect-src 'self'; " if scripts else ""
    return (f"default-src 'none'; {script}style-src 'self'; img-src {image_sources}; form-action {sources}; "
            "frame-ancestors 'none'; base-uri 'none'")


async def render_page(template: str, *, status: int = 200, form_targets: Iterable[str] = (),
                      images: Iterable[str] = (), scripts: bool = False, **context: Any) -> Response:
    """A page as a response, with the page CSP; never cached, since pages carry CSRF
    tokens and who is signed in."""
    response = Response(await render_template(template, **context), status=status,
                        mimetype="text/html")
    response.headers["Content-Security-Policy"] = page_csp(form_targets, images, scripts)
    response.headers["Cache-Control"] = "no-store"
    return response


def install(app: Quart, settings: Settings) -> None:
    """Templates (with the operator's folder first), the stylesheet route, the error page."""
    template_dirs, static_dirs = [TEMPLATES], [STATIC]
    if settings.pages_dir is not None:
        if not settings.pages_dir.is_dir():
            raise ConfigError(f"IDP_PAGES_DIR {settings.pages_dir} is not a folder")
        template_dirs.insert(0, settings.pages_dir / "templates")
        static_dirs.insert(0, settings.pages_dir / "static")
    app.jinja_loader = ChoiceLoader([FileSystemLoader(str(d)) for d in template_dirs])

    async def static(filename: str) -> Response:
        for folder in static_dirs:
            try:
                return await send_from_directory(folder, filename)
            except NotFound:
                continue
        raise NotFound()

    app.add_url_rule("/static/<path:filename>", "static", static, methods=["GET"])
