"""IDP_CLIENTS_FILE: a JSON list of clients, the source of truth for the clients a server knows."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from idp.ops.audit import audit
from idp.logins.browser import BROWSER
from idp.logins.consents import Consents
from idp.logins.handles import secret_hash
from idp.oauth.clients import Client, ClientRegistry
from idp.oauth.example_secrets import clients_with_example_secrets
from idp.oauth.protocol import SCOPE_PATTERN, AuthMethod, GrantType
from idp.settings import ConfigError
from idp.store.clients import ClientStore

_CLIENT_ID = r"[\x21-\x7E]{1,128}"
# RFC 8252 §7.1: a private-use scheme is a reverse domain name the app's owner controls,
# so it has a dot; that also rules out javascript:, data:, file: and the like.
_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+\-]*(\.[a-z0-9+\-]+)+$")


def _redirect_uri(uri: str) -> str:
    """One registered redirect URI (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1):
    https://, http:// on loopback only, or a private-use scheme; no fragment, no wildcard."""
    if "#" in uri:
        raise ValueError(f"{uri!r} has a fragment (#), which a redirect URI must not have")
    if "*" in uri:
        raise ValueError(f"{uri!r} has a wildcard (*); register every redirect URI in full")
    if not uri or any(ch.isspace() or not ch.isprintable() for ch in uri):
        raise ValueError(f"{uri!r} is empty or has spaces or control characters")
    scheme, colon, rest = uri.partition(":")
    scheme = scheme.lower()  # RFC 3986 §3.1: schemes are case-insensitive
    if not colon or not rest:
        raise ValueError(f"{uri!r} is not an absolute URI")
    if scheme in ("https", "http") and not _host(uri):
        raise ValueError(f"{uri!r} has no host, or a malformed host or port")
    if scheme == "https":
        return uri
    if scheme == "http":
        if not _is_loopback(_host(uri)):
            raise ValueError(f"{uri!r} is plain http off loopback; use https:// "
                             "(plain http:// only on 127.0.0.1, [::1] or localhost)")
        return uri
    if not _PRIVATE_SCHEME.match(scheme):
        raise ValueError(f"{uri!r} must use https://, http:// on loopback, or a private-use "
                         "scheme in reverse-domain style such as com.example.app:/callback")
    return uri


def _host(uri: str) -> str:
    """The host, or "" when there is none or the authority is malformed (an unbalanced [,
    a port that is not a number from 0 to 65535)."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        return ""
    return parts.hostname or ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


RedirectUri = Annotated[str, AfterValidator(_redirect_uri)]


def _web_page(uri: str) -> str:
    """A display link (RFC 7591 §2 client_uri, policy_uri, tos_uri): an http(s) URL the
    pages may link to; nothing a browser would run (javascript:, data:)."""
    scheme = uri.partition(":")[0].lower()
    if scheme not in ("https", "http") or not _host(uri) or any(ch.isspace() for ch in uri):
        raise ValueError(f"{uri!r} must be an https:// (or http://) address")
    return uri


def _logo(uri: str) -> str:
    """logo_uri: https only, since the pages show it (a plain-http image is mixed content)."""
    if uri.partition(":")[0].lower() != "https" or not _host(uri) or any(ch.isspace() for ch in uri):
        raise ValueError(f"{uri!r} must be an https:// address")
    return uri


WebPage = Annotated[str, Field(max_length=2048), AfterValidator(_web_page)]
LogoUri = Annotated[str, Field(max_length=2048), AfterValidator(_logo)]


class ClientEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    client_id: str = Field(pattern=f"^{_CLIENT_ID}$")
    client_secret: str | None = None
    token_endpoint_auth_method: AuthMethod
    grant_types: list[GrantType] = Field(min_length=1)
    scope: str = Field(default="", pattern=f"^({SCOPE_PATTERN})?$")
    redirect_uris: list[RedirectUri] = []
    post_logout_redirect_uris: list[RedirectUri] = []
    first_party: bool = False
    # RFC 7591 §2 display members, shown on the pages a person sees
    client_name: str | None = Field(default=None, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    client_uri: WebPage | None = None
    logo_uri: LogoUri | None = None
    policy_uri: WebPage | None = None
    tos_uri: WebPage | None = None
    introspection: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ClientEntry:
        if self.client_id == BROWSER:
            raise ValueError(f"client_id {BROWSER!r} is reserved for browser sessions")
        public = self.token_endpoint_auth_method == "none"
        if public and self.client_secret is not None:
            raise ValueError("a public client (auth method none) has no client_secret")
        if not public and (self.client_secret is None or len(self.client_secret) < 16):
            raise ValueError("a confidential client needs a client_secret of 16 or more characters")
        if public and self.introspection:
            raise ValueError("introspection is for confidential clients only")
        if public and "client_credentials" in self.grant_types:
            raise ValueError("client_credentials is for confidential clients only")
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise ValueError("a client with the authorization_code grant needs at least one redirect_uris entry")
        return self

    def document(self) -> dict[str, object]:
        """The stored form: the secret's hash, never the secret."""
        return {
            "_id": self.client_id,
            "secret_hash": secret_hash(self.client_secret) if self.client_secret else None,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "grant_types": list(dict.fromkeys(self.grant_types)),
            "scope": self.scope,
            "redirect_uris": list(dict.fromkeys(self.redirect_uris)),
            "post_logout_redirect_uris": list(dict.fromkeys(self.post_logout_redirect_uris)),
            "first_party": self.first_party,
            "introspection": self.introspection,
        }


def read_clients_file(path: Path) -> list[ClientEntry]:
    """Parse and check the whole file; any problem is one ConfigError line."""
    where = f"IDP_CLIENTS_FILE {path}"
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{where}: not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ConfigError(f"{where}: must be a JSON list of clients")
    entries = []
    for index, item in enumerate(data):
        try:
            entries.append(ClientEntry.model_validate(item))
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            field = ".".join(str(part) for part in first["loc"]) or "entry"
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{where}: client #{index + 1}: {field}: {message}") from None
    ids = [entry.client_id for entry in entries]
    duplicates = sorted({cid for cid in ids if ids.count(cid) > 1})
    if duplicates:
        raise ConfigError(f"{where}: client_id listed more than once: {', '.join(duplicates)}")
    copied = clients_with_example_secrets((entry.client_id, entry.client_secret) for entry in entries)
    if copied:
        raise ConfigError(f"{where}: client {copied[0]!r} has a client_secret copied from clients.example.json, "
                          "which anyone can read: set a long random one (e.g. openssl rand -hex 32)")
    return entries


async def sync_clients(store: ClientStore, consents: Consents, entries: list[ClientEntry], now: datetime) -> None:
    """The file is the source of truth: write its clients, and say which ones left it.
    A client that left loses the consents people gave it, so that a client id added
    back later does not inherit them."""
    for client_id in await store.sync([entry.document() for entry in entries], now):
        await consents.forget_client(client_id)
        audit("client.removed", client_id=client_id,
              reason="no longer in IDP_CLIENTS_FILE: it and its tokens stop working")


def client_registry(entries: list[ClientEntry]) -> ClientRegistry:
    """The clients a running server knows, by id: read once at start, kept in the process."""
    return ClientRegistry(Client.from_document(entry.document()) for entry in entries)
