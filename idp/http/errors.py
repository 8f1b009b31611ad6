"""The one map from what went wrong to what the client sees.

Services below HTTP raise domain errors (an e-mail taken, a wrong current password, too
many attempts, a form that breaks its rules, a database that does not answer, an
authorization request that cannot be trusted or must be refused); this module is where
each becomes an answer: a JSON body in the shape its RFC gives (JSON_ANSWERS), an error
page for a person (PageError, UntrustedRequest), or a redirect to an app
(AuthorizationError). Never a stack trace, never HTML where JSON is expected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pymongo.errors import ConnectionFailure, PyMongoError
from quart import Quart, Response, jsonify
from werkzeug.exceptions import HTTPException

from idp.accounts.forms import InvalidForm
from idp.accounts.recovery import InvalidToken
from idp.accounts.service import EmailTaken, UserGone, WrongPassword
from idp.accounts.throttling import SlowDown
from idp.http.answers import answer_app
from idp.http.context import services
from idp.http.display import client_display
from idp.http.pages import Link, PageError, render_page
from idp.oauth.authorization_request import AuthorizationError, UntrustedRequest
from idp.oauth.protocol import ACCOUNT_SCOPE
from idp.ops import metrics

log = logging.getLogger(__name__)

E = TypeVar("E", bound=BaseException)


class ApiError(Exception):
    """An error answer: status, RFC-style error code, description, offending fields."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str | None = None,
        *,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description or error)
        self.status = status
        self.error = error
        self.description = description
        self.fields = fields
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        if self.fields:
            body["fields"] = self.fields
        return body


def invalid_request(description: str, fields: dict[str, str] | None = None, status: int = 400) -> ApiError:
    return ApiError(status, "invalid_request", description, fields=fields)


# -- RFC 6750 §3.1: the answers of a resource endpoint to its Bearer token ---------------

def no_token() -> ApiError:
    # a request with no authentication information gets no error code
    return ApiError(401, "unauthorized", "A Bearer access token is required.",
                    headers={"WWW-Authenticate": "Bearer"})


def invalid_token() -> ApiError:
    return ApiError(401, "invalid_token", "The access token is invalid, expired or revoked.",
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def insufficient_scope() -> ApiError:
    return ApiError(403, "insufficient_scope", f"The access token needs the '{ACCOUNT_SCOPE}' scope and a user.",
                    headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})


def registration_closed() -> ApiError:
    return ApiError(403, "registration_closed",
                    "Self-registration is closed on this server: ask its administrator for an account.")


RETRY_AFTER_SECONDS = 5


def _slow_down(error: SlowDown) -> ApiError:
    return ApiError(429, "slow_down", "Too many attempts; try again later.",
                    headers={"Retry-After": str(error.retry_after)})


def _database_unavailable(_: Exception) -> ApiError:
    return ApiError(503, "temporarily_unavailable", "The database is not answering; try again shortly.",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


# The domain errors a JSON endpoint can meet, and their answers.
JSON_ANSWERS: dict[type[Exception], Callable[[Any], ApiError]] = {
    InvalidForm: lambda error: invalid_request(str(error), error.fields),
    EmailTaken: lambda _: ApiError(409, "email_taken", "An account with this e-mail address exists."),
    WrongPassword: lambda _: ApiError(403, "invalid_current_password", "The current password is wrong."),
    UserGone: lambda _: invalid_token(),  # deleted while its token was in flight
    SlowDown: _slow_down,
    InvalidToken: lambda _: ApiError(400, "invalid_token", "The link is unknown, used, expired, or replaced by a "
                                     "newer one or a password change; ask for a new one."),
}

_HTTP_ERRORS = {
    404: ("not_found", "There is nothing at this path."),
    405: ("method_not_allowed", "This method is not allowed on this path."),
    413: ("request_too_large", "The request body is too large."),
}


def json_error(error: ApiError) -> Response:
    response = jsonify(error.body())
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def database_unavailable(error: BaseException) -> bool:
    """A failure to reach the database in time, as opposed to a bug in a command."""
    if isinstance(error, (ConnectionFailure, TimeoutError)):
        return True
    return isinstance(error, PyMongoError) and error.timeout


def register(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def _api_error(error: ApiError) -> Response:
        return json_error(error)

    for kind, answer in JSON_ANSWERS.items():
        app.register_error_handler(kind, _answering(answer))

    @app.errorhandler(PageError)
    async def _page(error: PageError) -> Response:
        return await render_page("error.html", status=error.status, title=error.title,
                                 message=error.message, link=error.link)

    @app.errorhandler(UntrustedRequest)
    async def _untrusted_request(error: UntrustedRequest) -> Response:
        """Nowhere trustworthy to answer: a page that says what to do, never a redirect."""
        return await _page(_untrusted_page(error))

    @app.errorhandler(AuthorizationError)
    async def _refused_authorization(error: AuthorizationError) -> Response:
        """Refused once the app and its redirect URI are trusted: answered to the app."""
        location = error.request.answer(services().settings.issuer, error=error.error,
                                        error_description=error.description)
        return await answer_app(location, error.request.client.client_id)

    @app.errorhandler(PyMongoError)
    @app.errorhandler(TimeoutError)
    async def _unavailable(error: Exception) -> Response:
        """The database did not answer in time (or at all): 503, never a 500 or a hang."""
        if not database_unavailable(error):
            return await _unexpected(error)
        log.error("database unavailable: %s", type(error).__name__)
        metrics.DATABASE_ERRORS.inc()
        return json_error(_database_unavailable(error))

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code, description = _HTTP_ERRORS.get(status, ("invalid_request", error.description or ""))
        if status >= 500:
            code = "server_error"
        response = json_error(ApiError(status, code, description))
        allowed = getattr(error, "valid_methods", None)
        if status == 405 and allowed:
            response.headers["Allow"] = ", ".join(sorted(allowed))
        return response

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        log.error("unhandled error: %s", type(error).__name__, exc_info=error)
        return json_error(ApiError(500, "server_error", "The server could not handle this request."))


def _untrusted_page(error: UntrustedRequest) -> PageError:
    display = client_display(error.client_id)
    if display is None:
        return PageError(400, "This sign-in link can’t be used",
                         "The app that sent you here isn’t set up to sign in with this server. "
                         "Go back to the app and try again; if this keeps happening, let the app’s "
                         "makers know.")
    link = Link(display.uri, f"Go to {display.name}") if display.uri else None
    return PageError(400, "This sign-in link can’t be used",
                     f"{display.name} asked to send you back to an address it hasn’t registered "
                     "with this server, so for your safety you won’t be sent there. Go back to "
                     f"{display.name} and start signing in again; if this keeps happening, let its "
                     "makers know.", link)


def _answering(answer: Callable[[E], ApiError]) -> Callable[[E], Any]:
    async def handler(error: E) -> Response:
        return json_error(answer(error))
    return handler
