"""Every error as JSON, in the shape its RFC gives; never an HTML page or a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from pymongo.errors import ConnectionFailure, PyMongoError
from quart import Quart, Response, jsonify
from werkzeug.exceptions import HTTPException

from idp.ops import metrics
from idp.accounts.throttling import SlowDown

log = logging.getLogger(__name__)


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


RETRY_AFTER_SECONDS = 5

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

    @app.errorhandler(SlowDown)
    async def _slow_down(error: SlowDown) -> Response:
        return json_error(ApiError(429, "slow_down", "Too many attempts; try again later.",
                                   headers={"Retry-After": str(error.retry_after)}))

    @app.errorhandler(PyMongoError)
    @app.errorhandler(TimeoutError)
    async def _database_unavailable(error: Exception) -> Response:
        """The database did not answer in time (or at all): 503, never a 500 or a hang."""
        if not database_unavailable(error):
            return await _unexpected(error)
        log.error("database unavailable: %s", type(error).__name__)
        metrics.DATABASE_ERRORS.inc()
        return json_error(ApiError(
            503, "temporarily_unavailable", "The database is not answering; try again shortly.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ))

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
