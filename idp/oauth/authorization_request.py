"""The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1), checked
in the order that decides how an error is answered (RFC 6749 §4.1.2.1):

- until the client and the redirect URI are trusted, an error is UntrustedRequest, which
  the HTTP layer shows as a page, never a redirect: a redirect would hand the answer to
  an address nobody registered;
- after that, an error redirects to the app (AuthorizationError), with `state` and `iss`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from idp.oauth.clients import Client
from idp.oauth.protocol import SCOPE_PATTERN
from idp.oauth.redirect_uris import redirect_uri_matches
from idp.store.interactions import PendingRequest

# the parameters this server reads
PARAMETERS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
              "code_challenge_method", "prompt", "max_age", "login_hint", "response_mode")
PROMPTS = frozenset({"none", "login", "consent"})
MAX_VALUE = 2048
_SCOPE = re.compile(SCOPE_PATTERN)
# RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters of the unreserved set
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


class UntrustedRequest(Exception):
    """The client is unknown or the redirect URI is not one it registered: nowhere
    trustworthy to send an answer. `client_id` names a known client when there is one."""

    def __init__(self, reason: str, client_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.client_id = client_id


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
    sent_redirect_uri: str | None = None  # as sent (None: omitted), which the code must name
    state: str | None = None
    scope: str = ""
    nonce: str | None = None
    code_challenge: str = ""
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    login_hint: str | None = None

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

    def pending(self) -> PendingRequest:
        """What is kept on the server while the person signs in and consents."""
        return PendingRequest(
            client_id=self.client.client_id, redirect_uri=self.redirect_uri,
            sent_redirect_uri=self.sent_redirect_uri, scope=self.scope, state=self.state, nonce=self.nonce,
            code_challenge=self.code_challenge, prompt=self.prompt, max_age=self.max_age,
            login_hint=self.login_hint,
        )

    @classmethod
    def kept(cls, client: Client, pending: PendingRequest) -> AuthorizationRequest:
        """The request as it was checked and kept: nothing a form sends can change it."""
        return cls(client=client, redirect_uri=pending.redirect_uri, sent_redirect_uri=pending.sent_redirect_uri,
                   state=pending.state, scope=pending.scope, nonce=pending.nonce,
                   code_challenge=pending.code_challenge, prompt=pending.prompt, max_age=pending.max_age,
                   login_hint=pending.login_hint)


def registered_redirect_uri(client: Client, uri: str) -> bool:
    """One of the client's redirect URIs, exactly, or on loopback with any port."""
    return any(redirect_uri_matches(registered, uri) for registered in client.redirect_uris)


def parse(values: Mapping[str, list[str]], find_client: Callable[[str], Client | None]) -> AuthorizationRequest:
    """Check an authorization request given as name -> every value sent; raises
    UntrustedRequest or AuthorizationError."""
    once = {name: values[name][0] for name in PARAMETERS if values.get(name)}
    client_id = once.get("client_id")
    client = find_client(client_id) if client_id and len(values["client_id"]) == 1 else None
    if client is None:
        raise UntrustedRequest("client_id is missing, unknown or sent twice")
    sent_uri = once.get("redirect_uri")
    redirect_uri = sent_uri if sent_uri is not None else client.get_default_redirect_uri()
    if (len(values.get("redirect_uri", ())) > 1 or redirect_uri is None
            or not registered_redirect_uri(client, redirect_uri)):
        raise UntrustedRequest("redirect_uri is missing, sent twice or not registered", client.client_id)
    request = AuthorizationRequest(client, redirect_uri, sent_uri, state=once.get("state"))
    return _checked(request, once, values)


def _checked(request: AuthorizationRequest, params: dict[str, str],
             values: Mapping[str, list[str]]) -> AuthorizationRequest:
    client = request.client
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
        client=client, redirect_uri=request.redirect_uri, sent_redirect_uri=request.sent_redirect_uri,
        state=request.state, scope=allowed, nonce=params.get("nonce"), code_challenge=challenge,
        prompt=prompt, max_age=int(max_age) if max_age is not None else None,
        login_hint=params.get("login_hint"),
    )
