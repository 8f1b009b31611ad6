"""IDP_CLIENTS_FILE: a JSON list of clients, created or updated at every start."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from idp.oauth.models import SCOPE_PATTERN, Client, secret_hash
from idp.settings import ConfigError
from idp.store.clients import ClientStore

log = logging.getLogger(__name__)

_CLIENT_ID = r"[\x21-\x7E]{1,128}"


class ClientEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    client_id: str = Field(pattern=f"^{_CLIENT_ID}$")
    client_secret: str | None = None
    token_endpoint_auth_method: Literal["none", "client_secret_basic", "client_secret_post"]
    grant_types: list[Literal["password", "refresh_token", "client_credentials"]] = Field(min_length=1)
    scope: str = Field(default="", pattern=f"^({SCOPE_PATTERN})?$")

    @model_validator(mode="after")
    def _consistent(self) -> ClientEntry:
        public = self.token_endpoint_auth_method == "none"
        if public and self.client_secret is not None:
            raise ValueError("a public client (auth method none) has no client_secret")
        if not public and (self.client_secret is None or len(self.client_secret) < 16):
            raise ValueError("a confidential client needs a client_secret of 16 or more characters")
        if public and "client_credentials" in self.grant_types:
            raise ValueError("client_credentials is for confidential clients only")
        return self

    def document(self) -> dict[str, object]:
        """The stored form: the secret's hash, never the secret."""
        return {
            "_id": self.client_id,
            "secret_hash": secret_hash(self.client_secret) if self.client_secret else None,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
            "grant_types": list(dict.fromkeys(self.grant_types)),
            "scope": self.scope,
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
    return entries


async def sync_clients(store: ClientStore, entries: list[ClientEntry], now: datetime) -> None:
    """The file is the source of truth: write its clients, and say which ones left it."""
    for client_id in await store.sync([entry.document() for entry in entries], now):
        log.warning("client %s is no longer in IDP_CLIENTS_FILE: it and its tokens stop working",
                    client_id, extra={"fields": {"event": "client.removed", "client_id": client_id}})


def client_registry(entries: list[ClientEntry]) -> dict[str, Client]:
    """The clients a running server knows, by id: read once at start, kept in the process."""
    return {entry.client_id: Client.from_document(entry.document()) for entry in entries}
