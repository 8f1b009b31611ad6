"""Configuration: one frozen object, read from the IDP_* environment variables.

Each field of `Settings` is one variable (`IDP_` + the field name in capitals); its
metadata says how to parse it and what it means, so `idp serve --help` and `from_env`
read the same list.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(Exception):
    """A setting is unusable; the message is one line an operator can act on."""


def _variable(kind: type, meaning: str, default: Any = MISSING, *,
              factory: Callable[[], Any] | None = None, shown: str | None = None) -> Any:
    """A field read from IDP_<NAME>; `shown` is the default as --help says it."""
    metadata = {"kind": kind, "meaning": meaning, "shown": shown}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


_MAY_BE_ZERO = frozenset({"refresh_reuse_grace"})
"""Integer settings for which 0 means "off"; every other one must be positive."""


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    issuer: str = _variable(str, "the iss of every token and the base of every URL in the metadata; "
                            "required when IDP_HOST is 0.0.0.0 or ::", "",
                            shown="http://IDP_HOST:IDP_PORT, or http://localhost:IDP_PORT on loopback")
    host: str = _variable(str, "where idp serve listens", "127.0.0.1")
    port: int = _variable(int, "where idp serve listens", 8000)
    mongo_uri: str = _variable(str, "mongodb:// or mongodb+srv:// URI; memory:// is development only",
                               "memory://")
    mongo_db: str = _variable(str, "database name", "idp")
    keys_dir: Path = _variable(Path, "signing keys; an empty folder gets a key at first start", Path("keys"))
    clients_file: Path | None = _variable(Path, "JSON list of clients, the source of truth at every start",
                                          None, shown="none")
    pages_dir: Path | None = _variable(Path, "templates/ and static/ that replace the built-in pages",
                                       None, shown="none")
    audience: str = _variable(str, "the aud of access tokens", "", shown="the issuer")
    access_token_ttl: int = _variable(int, "seconds", 900)
    refresh_token_ttl: int = _variable(int, "seconds, absolute from the login", 2_592_000)
    refresh_reuse_grace: int = _variable(int, "seconds during which the refresh token rotated away last may be "
                                         "presented again by its client (a lost answer); 0: never", 0)
    max_body_bytes: int = _variable(int, "larger request bodies get 413", 65_536)
    login_max_failures: int = _variable(int, "failed password checks per e-mail and client IP per window before 429",
                                        10)
    account_max_failures: int = _variable(int, "failed password checks per e-mail per window from all IPs "
                                                "together (browsers with a device cookie for it are exempt)", 100)
    ip_max_failures: int = _variable(int, "failed password checks per client IP per window", 100)
    register_max_per_ip: int = _variable(int, "registrations per client IP per window", 100)
    login_window: int = _variable(int, "seconds", 900)
    max_sessions_per_user: int = _variable(int, "live logins per user; the oldest ends when a new one "
                                           "would exceed it", 100)
    db_timeout: int = _variable(int, "seconds a request waits for MongoDB before 503", 3)
    trusted_proxies: frozenset[str] = _variable(
        frozenset, "comma-separated proxy addresses whose X-Forwarded-For is believed",
        factory=frozenset, shown="none")
    workers: int = _variable(int, "idp serve worker processes (one with memory://)", factory=_cpu_count,
                             shown="the number of CPUs")
    hash_workers: int = _variable(int, "threads per process that hash passwords (argon2)", factory=_cpu_count,
                                  shown="the number of CPUs")
    io_workers: int = _variable(int, "threads per process that run OAuth requests and wait on the database",
                                32)
    keep_alive_timeout: int = _variable(int, "seconds an idle keep-alive connection stays open", 75)
    self_registration: str = _variable(str, "open: anyone may POST /users; closed: accounts are made "
                                       "with idp users add", "open")
    factor_key: str = _variable(str, "base64 of 32 random bytes: the key that encrypts authenticator-app keys "
                                "at rest", "", shown="the file factor.key in IDP_KEYS_DIR")
    metrics_addr: str = _variable(str, "host:port of the Prometheus /metrics listener (e.g. 127.0.0.1:9100)", "",
                                  shown="none (off)")
    smtp_url: str = _variable(str, "smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps://... "
                              "(TLS from the start): where mail goes", "", shown="none")
    mail_from: str = _variable(str, "the sender of every message", "", shown="no-reply@ + the issuer's host")
    reset_ttl: int = _variable(int, "seconds a password-reset link works", 1800)
    verify_ttl: int = _variable(int, "seconds an e-mail verification link works", 86_400)
    require_verified_email: bool = _variable(bool, "refuse sign-in to accounts whose e-mail is not verified",
                                             False, shown="false")

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError("IDP_PORT must be between 1 and 65535")
        if not self.issuer:
            object.__setattr__(self, "issuer", self._default_issuer())
        _check_url("IDP_ISSUER", self.issuer)
        if not self.audience:
            object.__setattr__(self, "audience", self.issuer)
        if not self.mongo_uri.startswith(("memory://", "mongodb://", "mongodb+srv://")):
            raise ConfigError(
                "IDP_MONGO_URI must start with memory://, mongodb:// or mongodb+srv://"
            )
        if self.self_registration not in ("open", "closed"):
            raise ConfigError(f"IDP_SELF_REGISTRATION must be open or closed, not {self.self_registration!r}")
        _check_mail(self)
        self.metrics_address  # noqa: B018 (raises ConfigError for a malformed IDP_METRICS_ADDR)
        for f in fields(self):
            if f.name in _MAY_BE_ZERO:
                if getattr(self, f.name) < 0:
                    raise ConfigError(f"IDP_{f.name.upper()} must be 0 or a positive integer")
            elif f.metadata["kind"] is int and getattr(self, f.name) < 1:
                raise ConfigError(f"IDP_{f.name.upper()} must be a positive integer")

    def _default_issuer(self) -> str:
        """http://IDP_HOST:IDP_PORT; `localhost` for a loopback address, since browsers
        give passkeys to a domain name only; none for a wildcard, which no client can use."""
        if _is_wildcard(self.host):
            raise ConfigError(f"IDP_HOST {self.host} listens on every interface: set IDP_ISSUER to the URL "
                              "clients reach this server at (e.g. https://id.example.com)")
        if _is_loopback(self.host):
            return f"http://localhost:{self.port}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def issuer_is_secure(self) -> bool:
        """https, or plain http on a loopback address (RFC 8252 §7.3)."""
        parts = urlsplit(self.issuer)
        if parts.scheme == "https":
            return True
        host = parts.hostname or ""
        return host == "localhost" or host.startswith("127.") or host == "::1"

    @property
    def registration_open(self) -> bool:
        return self.self_registration == "open"

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """(host, port) of the metrics listener, None when IDP_METRICS_ADDR is unset."""
        if not self.metrics_addr:
            return None
        host, colon, port = self.metrics_addr.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"IDP_METRICS_ADDR must be host:port (e.g. 127.0.0.1:9100), not {self.metrics_addr!r}")
        return host, int(port)

    @property
    def mongo_hosts(self) -> str:
        """The host(s) of IDP_MONGO_URI, for messages: never the user name or password."""
        if self.in_memory:
            return "memory://"
        rest = self.mongo_uri.split("://", 1)[1]
        authority = re.split(r"[/?]", rest, maxsplit=1)[0]
        return authority.rpartition("@")[2] or "localhost"

    @property
    def in_memory(self) -> bool:
        return self.mongo_uri.startswith("memory://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every IDP_* variable; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"IDP_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, f.metadata["kind"], raw)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def unknown_variables(cls, environ: Mapping[str, str] | None = None) -> list[str]:
        """The IDP_* names in the environment that no setting reads: a typo would otherwise
        run the default without a word. IDP_TEST_* belong to the test suite."""
        env = os.environ if environ is None else environ
        known = {f"IDP_{f.name.upper()}" for f in fields(cls)}
        return sorted(name for name in env
                      if name.startswith("IDP_") and name not in known and not name.startswith("IDP_TEST_"))

    @classmethod
    def variables(cls) -> list[tuple[str, str, str]]:
        """(variable, default as said to a person, meaning) for every setting."""
        described = []
        for f in fields(cls):
            shown = f.metadata["shown"]
            if shown is None and f.default is not MISSING:
                shown = str(f.default)
            elif shown is None and f.default_factory is not MISSING:
                shown = str(f.default_factory())
            described.append((f"IDP_{f.name.upper()}", shown, f.metadata["meaning"]))
        return described


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
    if kind is bool:
        if raw.strip().lower() not in _BOOLEANS:
            raise ConfigError(f"IDP_{name.upper()} must be true or false, not {raw!r}")
        return _BOOLEANS[raw.strip().lower()]
    return raw.rstrip("/") if name == "issuer" else raw


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_url(variable: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{variable} must be an absolute http(s) URL, not {value!r}")


_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _check_mail(settings: Settings) -> None:
    """IDP_SMTP_URL names a server (its credentials are never repeated in a message), and
    IDP_MAIL_FROM defaults to no-reply@ the issuer's host."""
    if settings.smtp_url:
        parts = urlsplit(settings.smtp_url)
        try:
            parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        except ValueError:
            raise ConfigError("IDP_SMTP_URL has a port that is not a number") from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("IDP_SMTP_URL must be smtp://[user:password@]host[:port] or smtps://...")
    if not settings.mail_from:
        object.__setattr__(settings, "mail_from", f"no-reply@{urlsplit(settings.issuer).hostname}")
    elif "@" not in settings.mail_from:
        raise ConfigError(f"IDP_MAIL_FROM must be an e-mail address, not {settings.mail_from!r}")
