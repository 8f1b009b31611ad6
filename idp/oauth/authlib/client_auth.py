"""Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3).

Takes the place of Authlib's ClientAuthentication, which tries each method in turn: a
failed Basic fell through to a body `client_id`, Basic for one client won over a body
`client_id` of another, non-UTF-8 Basic credentials raised (a 500), Basic credentials
were percent-decoded but not form-decoded, and an unknown client was told apart from a
wrong secret. Here the request names exactly one method, and that method alone decides.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749 import InvalidClientError

from idp.ops.audit import bind
from idp.oauth.clients import Client
from idp.oauth.authlib.requests import HeaderLookup, OAuthRequest

# One answer for an unknown client, a wrong or missing secret, and a confidential client
# that sent only its id, so that the answer does not tell which client ids exist.
FAILED = "Client authentication failed: unknown client, or wrong or missing client secret."
_MALFORMED = ("The Authorization header does not hold HTTP Basic client credentials: base64 of "
              "client_id:client_secret, each form-urlencoded UTF-8.")


@dataclass(frozen=True)
class _Presented:
    """What the request offers: the method it uses and the readings of its credentials."""

    method: str
    client_ids: tuple[str, ...]
    secrets: tuple[str, ...] = ()


def uses_basic(headers: HeaderLookup) -> bool:
    """True when the request carries HTTP Basic credentials, well-formed or not."""
    scheme = headers.get("Authorization", "").split(" ", 1)[0]
    return scheme.lower() == "basic"


class ClientAuthenticator:
    """Called by Authlib as `authenticate_client(request, methods, endpoint)`."""

    def __init__(self, query_client: Callable[[str], Client | None]) -> None:
        self._query_client = query_client

    def __call__(self, request: OAuthRequest, methods: list[str], endpoint: str = "token") -> Client:
        presented = _presented(request)
        client = self._verify(presented)
        # The client proved who it is before it is told how it should have done it.
        if client.auth_method != presented.method:
            raise _refused(f"client '{client.client_id}' must authenticate with {client.auth_method}.")
        if presented.method not in methods:
            raise _refused(f"client '{client.client_id}' may not use this endpoint: it accepts only "
                           f"{' or '.join(methods)}.")
        request.auth_method = presented.method
        bind(client_id=client.client_id)  # every audit event of this request names the client
        return client

    def _verify(self, presented: _Presented) -> Client:
        for client_id in presented.client_ids:
            client = self._query_client(client_id)
            if client is None:
                continue
            if presented.method == "none":
                if not client.confidential:
                    return client
            elif any(client.check_client_secret(secret) for secret in presented.secrets):
                return client
        raise _refused(FAILED)


def _presented(request: OAuthRequest) -> _Presented:
    form = request.form
    # an empty parameter counts as absent, as Authlib has it (some clients send client_secret=)
    body_id = form.get("client_id") or None
    body_secret = form.get("client_secret") or None
    if uses_basic(request.headers):
        client_ids, secrets = _basic_credentials(request.headers["Authorization"])
        if body_secret is not None:
            raise _refused("Send the client's credentials once: in the Authorization header or as "
                           "client_secret in the body, not both.")
        if body_id is not None and body_id not in client_ids:
            raise _refused("The client_id in the body is not the client of the Authorization header.")
        if secrets == ("",):
            # "id:" identifies a public client without a secret (requests-oauthlib sends it)
            return _Presented("none", client_ids)
        return _Presented("client_secret_basic", client_ids, secrets)
    if body_secret is not None:
        if body_id is None:
            raise _refused("client_secret was sent without client_id.")
        return _Presented("client_secret_post", (body_id,), (body_secret,))
    if body_id is not None:
        return _Presented("none", (body_id,))
    raise _refused("Client authentication is required: send client_id, and a confidential client's "
                   "secret with HTTP Basic or as client_secret.")


def _basic_credentials(header: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The readings of the client id and of the secret in an HTTP Basic header.

    RFC 6749 §2.3.1 has both form-urlencoded (Appendix B: a space is "+") before base64,
    and that reading comes first; many clients do not encode, so the raw value is a second
    reading. Trying both costs a guesser nothing worth having: one more comparison of a
    secret that is long and random.
    """
    token = header.split(" ", 1)[1].strip() if " " in header else ""
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except ValueError:  # bad base64, non-ASCII, or not UTF-8 (all ValueError subclasses)
        raise _refused(_MALFORMED) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise _refused(_MALFORMED)
    return _readings(client_id), _readings(secret)



def _readings(value: str) -> tuple[str, ...]:
    try:
        decoded = unquote_plus(value, errors="strict")
    except UnicodeDecodeError:  # escapes that are not UTF-8: only the raw reading is left
        return (value,)
    return (decoded,) if decoded == value else (decoded, value)


def _refused(description: str) -> InvalidClientError:
    return InvalidClientError(description=description, status_code=401)
