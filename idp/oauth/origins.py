"""Web origins of URIs (RFC 6454), for CORS and for a page's CSP."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def web_origin(uri: str) -> str | None:
    """The origin as a browser sends it in `Origin` (RFC 6454 §6.1): lower-case scheme and
    host, the port only when it is not the scheme's default; None for a URI that has no web
    origin (a native app's private-use scheme, or no host)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:  # a port that is not a number, an unbalanced [
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    suffix = f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{host}{suffix}"
