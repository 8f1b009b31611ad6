"""The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1), checked
in the order that decides how an error is answered (RFC 6749 §4.1.2.1):

- until the client and the redirect URI are trusted, an error is a page (PageError, 400),
  never a redirect: a redirect would hand the answer to an address nobody registered;
- after that, an error redirects to the app (AuthorizationError), with `state` and `iss`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from idp.oauth.clients import Client
from idp.oauth.protocol import SCOPE_PATTERN
from idp.http.pages import PageError

# the parameters this server reads and carries through its forms
PARAMETERS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
              "code_challenge_method", "prompt", "max_age", "login_hint", "response_mode")
PROMPTS = frozenset({"none", "login", "consent"})
MAX_VALUE = 2048
_SCOPE = re.compile(SCOPE_PATTERN)
# RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters of the unreserved set
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


class AuthorizationError(Exception):
    """An error answered by redirecting to the app's trusted redirect URI."""

    def __init__(self, request: AuthorizationRequest, error: str, description: str) -> None:
        super().__init__(description)
        self.request = request
        self.error = error
        self.description = description


@dataclass(frozen=True)
class AuthorizationRequest:
    client: Client
    redirect_uri: str  # where the answer goes
    params: dict[str, str]  # the parameters as sent, to carry through the forms
    scope: str = ""
    nonce: str | None = None
    code_challenge: str = ""
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None

    @property
    def state(self) -> str | None:
        return self.params.get("state")

    @property
    def sent_redirect_uri(self) -> str | None:
        return self.params.get("redirect_uri")

    @property
    def login_hint(self) -> str | None:
        return self.params.get("login_hint")

    def answer(self, issuer: str, **values: str) -> str:
        """The redirect URI with the answer, `state` and `iss` (RFC 9207) in its query."""
        params = dict(values)
        if self.state is not None:
            params["state"] = self.state
        params["iss"] = issuer
        separator = "&" if "?" in self.redirect_uri else "?"
        return f"{self.redirect_uri}{separator}{urlencode(params)}"

    def error(self, error: str, description: str) -> AuthorizationError:
        return AuthorizationError(self, error, description)


def parse(values: Mapping[str, list[str]], find_client: Callable[[str], Client | None]) -> AuthorizationRequest:
    """Check an authorization request given as name -> every value sent; raises PageError
    or AuthorizationError."""
    once = {name: values[name][0] for name in PARAMETERS if values.get(name)}
    client_id = once.get("client_id")
    client = find_client(client_id) if client_id and len(values["client_id"]) == 1 else None
    if client is None:
        raise PageError(400, "This sign-in request cannot be used",
                        "The app that sent you here is not registered with this server "
                        "(its client_id is missing, unknown or sent twice). Go back to the app and try again.")
    sent_uri = once.get("redirect_uri")
    redirect_uri = sent_uri if sent_uri is not None else client.get_default_redirect_uri()
    if (len(values.get("redirect_uri", ())) > 1 or redirect_uri is None
            or not client.check_redirect_uri(redirect_uri)):
        raise PageError(400, "This sign-in request cannot be used",
                        f"The app “{client.client_id}” sent a redirect address that it has not registered "
                        "(it must be exactly one of its registered redirect_uris), so this server "
                        "will not send you there.")
    request = AuthorizationRequest(client, redirect_uri, once)
    return _checked(request, values)


def _checked(request: AuthorizationRequest, values: Mapping[str, list[str]]) -> AuthorizationRequest:
    params, client = request.params, request.client
    for name in PARAMETERS:
        if len(values.get(name, ())) > 1:
            raise request.error("invalid_request", f"The parameter '{name}' was sent more than once.")
        if len(params.get(name, "")) > MAX_VALUE or "\x00" in params.get(name, ""):
            raise request.error("invalid_request", f"The parameter '{name}' is too long or not acceptable.")
    if values.get("request"):
        raise request.error("request_not_supported", "Request objects are not supported; send parameters.")
    if values.get("request_uri"):
        raise request.error("request_uri_not_supported", "request_uri is not supported; send parameters.")
    if params.get("response_type") != "code":
        raise request.error("unsupported_response_type", "response_type must be 'code'.")
    if not client.check_response_type("code"):
        raise request.error("unauthorized_client",
                            f"Client '{client.client_id}' is not registered for the authorization_code grant.")
    if params.get("response_mode", "query") != "query":
        raise request.error("invalid_request", "Only response_mode=query is supported.")
    scope = params.get("scope", "")
    if scope and not _SCOPE.fullmatch(scope):
        raise request.error("invalid_scope", "The scope is not a space-separated list of scope names.")
    allowed = client.get_allowed_scope(scope)
    if allowed is None:
        extra = sorted(set(scope.split()) - set(client.scope.split()))
        raise request.error("invalid_scope", f"Client '{client.client_id}' may not ask for the scope(s) "
                                             + ", ".join(f"'{name}'" for name in extra) + ".")
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if not challenge:
        raise request.error("invalid_request", "code_challenge is required (PKCE, RFC 7636) for every client.")
    if method != "S256":
        raise request.error("invalid_request", "code_challenge_method must be S256; plain is not accepted.")
    if not _S256_CHALLENGE.fullmatch(challenge):
        raise request.error("invalid_request", "code_challenge must be 43 base64url characters "
                                               "(the S256 hash of the code_verifier).")
    prompt = frozenset(params.get("prompt", "").split())
    if not prompt <= PROMPTS:
        raise request.error("invalid_request", "prompt may hold none, login and consent only.")
    if "none" in prompt and len(prompt) > 1:
        raise request.error("invalid_request", "prompt=none cannot be combined with another value.")
    max_age = params.get("max_age")
    if max_age is not None and not (max_age.isascii() and max_age.isdigit() and len(max_age) <= 10):
        raise request.error("invalid_request", "max_age must be a number of seconds.")
    return AuthorizationRequest(
        client=client, redirect_uri=request.redirect_uri, params=params, scope=allowed,
        nonce=params.get("nonce"), code_challenge=challenge, prompt=prompt,
        max_age=int(max_age) if max_age is not None else None,
    )
