"""Reading request bodies strictly, before anything reaches a service or a store."""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import parse_qsl

from quart import request

from idp.http.context import services
from idp.http.errors import invalid_request

FORM = "application/x-www-form-urlencoded"
MAX_FORM_VALUE = 8192


async def read_form() -> dict[str, str]:
    """The form body as a dict; every parameter must appear once (RFC 6749 §3.2)."""
    if request.mimetype != FORM:
        raise invalid_request(f"The body must be {FORM}.")
    raw = await _body()
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise invalid_request("The body is not valid UTF-8 form encoding.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise invalid_request(f"The parameter '{_printable(name)}' was sent more than once.")
        if len(value) > MAX_FORM_VALUE or "\x00" in value:
            raise invalid_request(f"The parameter '{_printable(name)}' is not acceptable.")
        form[name] = value
    return form


async def read_json_object() -> dict[str, Any]:
    """The JSON body, which must be an object; the content type must say JSON."""
    if request.mimetype != "application/json":
        raise invalid_request("The body must be application/json.")
    raw = await _body()
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise invalid_request("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid_request("The body must be a JSON object.")
    return body


async def _body() -> bytes:
    """The raw body, kept for anything that reads it again."""
    data = await request.get_data(cache=True, as_text=False)
    return data if isinstance(data, bytes) else data.encode()


def from_trusted_proxy() -> bool:
    """Whether the peer is one of IDP_TRUSTED_PROXIES, whose headers are believed."""
    return (request.remote_addr or "unknown") in services().settings.trusted_proxies


def client_ip() -> str:
    """The peer's address; X-Forwarded-For is believed only from configured proxies."""
    peer = request.remote_addr or "unknown"
    trusted = services().settings.trusted_proxies
    if peer not in trusted:
        return peer
    for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
        hop = hop.strip()
        if hop and hop not in trusted and _is_ip(hop):
            return hop
    return peer


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A key given twice is ambiguous (which one counts?), so it is refused."""
    body = dict(pairs)
    if len(body) != len(pairs):
        raise ValueError("duplicate key")
    return body


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _printable(name: str) -> str:
    """A parameter name fit for error_description (RFC 6749 allows printable ASCII but " and \\)."""
    return "".join(c for c in name[:64] if 0x20 <= ord(c) <= 0x7E and c not in '"\\')
