"""Configuration: one frozen object, read from the IDP_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class ConfigError(Exception):
    """A setting is unusable; the message is one line an operator can act on."""


@dataclass(frozen=True)
class Settings:
    issuer: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    mongo_uri: str = "memory://"
    mongo_db: str = "idp"
    keys_dir: Path = Path("keys")
    clients_file: Path | None = None
    pages_dir: Path | None = None
    audience: str = ""
    access_token_ttl: int = 900
    refresh_token_ttl: int = 2_592_000
    max_body_bytes: int = 65_536
    login_max_failures: int = 10
    ip_max_failures: int = 100
    register_max_per_ip: int = 100
    login_window: int = 900
    max_sessions_per_user: int = 100
    db_timeout: int = 3
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _check_url("IDP_ISSUER", self.issuer)
        if not self.audience:
            object.__setattr__(self, "audience", self.issuer)
        if not self.mongo_uri.startswith(("memory://", "mongodb://", "mongodb+srv://")):
            raise ConfigError(
                "IDP_MONGO_URI must start with memory://, mongodb:// or mongodb+srv://"
            )
        for name in (
            "access_token_ttl",
            "refresh_token_ttl",
            "max_body_bytes",
            "login_max_failures",
            "ip_max_failures",
            "register_max_per_ip",
            "login_window",
            "max_sessions_per_user",
            "db_timeout",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"IDP_{name.upper()} must be a positive integer")
        if not 0 < self.port < 65536:
            raise ConfigError("IDP_PORT must be between 1 and 65535")

    @property
    def issuer_is_secure(self) -> bool:
        """https, or plain http on a loopback address (RFC 8252 §7.3)."""
        parts = urlsplit(self.issuer)
        if parts.scheme == "https":
            return True
        host = parts.hostname or ""
        return host == "localhost" or host.startswith("127.") or host == "::1"

    @property
    def in_memory(self) -> bool:
        return self.mongo_uri.startswith("memory://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every IDP_* variable; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, kind in _VARIABLES.items():
            raw = env.get(f"IDP_{name.upper()}")
            if raw is None or raw == "":
                continue
            values[name] = _parse(name, kind, raw)
        return cls(**values)  # type: ignore[arg-type]


_VARIABLES: dict[str, type] = {
    "issuer": str,
    "host": str,
    "port": int,
    "mongo_uri": str,
    "mongo_db": str,
    "keys_dir": Path,
    "clients_file": Path,
    "pages_dir": Path,
    "audience": str,
    "access_token_ttl": int,
    "refresh_token_ttl": int,
    "max_body_bytes": int,
    "login_max_failures": int,
    "ip_max_failures": int,
    "register_max_per_ip": int,
    "login_window": int,
    "max_sessions_per_user": int,
    "db_timeout": int,
    "trusted_proxies": frozenset,
}


def _parse(name: str, kind: type, raw: str) -> object:
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"IDP_{name.upper()} must be an integer, not {raw!r}") from None
    if kind is frozenset:
        return frozenset(part.strip() for part in raw.split(",") if part.strip())
    if kind is Path:
        return Path(raw)
    return raw.rstrip("/") if name == "issuer" else raw


def _check_url(variable: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{variable} must be an absolute http(s) URL, not {value!r}")
