"""What kind of redirect URI a request names: loopback (RFC 8252 §7.3), private-use
scheme (§7.1), or web; and the one relaxation of exact matching that RFC 8252 asks for."""

from __future__ import annotations

import re

# http on a loopback IP literal, an optional port, then the rest (path, query) verbatim.
# `localhost` is not included: RFC 8252 §8.3 advises against it, and a name can be
# re-pointed where a literal cannot.
_LOOPBACK = re.compile(r"^http://(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?].*)?$", re.DOTALL)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


def _loopback_parts(uri: str) -> tuple[str, str] | None:
    """(host, the rest) of an http loopback-literal URI with a valid or no port, else None."""
    match = _LOOPBACK.match(uri)
    if match is None:
        return None
    port = match[2]
    if port is not None and not 0 < int(port) <= 65535:
        return None
    return match[1], match[3] or ""


def redirect_uri_matches(registered: str, sent: str) -> bool:
    """Exact string comparison, except that a loopback-literal redirect URI matches
    whatever port the request names: a native app listens on a port the system gives it
    (RFC 8252 §7.3). Host, path and query still compare exactly."""
    if sent == registered:
        return True
    registered_parts, sent_parts = _loopback_parts(registered), _loopback_parts(sent)
    return registered_parts is not None and registered_parts == sent_parts


def is_loopback(uri: str) -> bool:
    return _loopback_parts(uri) is not None or uri.lower().startswith(("http://localhost:", "http://localhost/"))


def is_private_use(uri: str) -> bool:
    match = _SCHEME.match(uri)
    return match is not None and match[1].lower() not in ("http", "https")


def is_native_redirect(uri: str) -> bool:
    """A redirect that any local process could receive: a port it binds, a scheme it claims."""
    return is_loopback(uri) or is_private_use(uri)
