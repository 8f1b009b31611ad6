"""Authlib's view of an HTTP request, built from a form body already read on the loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request


class HeaderLookup(Protocol):
    """What Authlib and client authentication read of a request's headers: values by name,
    case-insensitively (werkzeug's Headers is one)."""

    def get(self, key: str, default: str) -> str: ...

    def __getitem__(self, key: str) -> str: ...


class FormPayload(OAuth2Payload):
    def __init__(self, form: Mapping[str, str]) -> None:
        self._form = dict(form)

    @property
    def data(self) -> dict[str, str]:
        return self._form

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: [value] for key, value in self._form.items()}


class OAuthRequest(OAuth2Request):
    """A POST with a form body whose parameters were each sent once (checked by the caller)."""

    def __init__(self, uri: str, headers: HeaderLookup, form: Mapping[str, str], client_ip: str) -> None:
        # Authlib refuses any plain-http URI that is not loopback, to enforce TLS. TLS is
        # terminated in front of us (or by Hypercorn), which this process cannot see, so
        # the check would only turn an http issuer such as http://idp:8000 inside a
        # compose network into a failure of every request; app start warns instead.
        super().__init__("POST", _https(uri), headers=headers)
        self.payload = FormPayload(form)
        self.client_ip = client_ip

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data

    @property
    def args(self) -> dict[str, str]:
        return {}


def _https(uri: str) -> str:
    return "https://" + uri.removeprefix("http://") if uri.startswith("http://") else uri
