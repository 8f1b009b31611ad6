"""CORS, so that a single-page app can call the endpoints it needs from its own origin.

The token, revocation and userinfo endpoints answer a browser's cross-origin requests
only from the origins of registered redirect URIs of public clients (the apps that run
in a browser and hold no secret), computed once from the clients file. Any other origin
gets no CORS header, so the browser keeps the answer from the calling page. The
discovery documents and the JWKS are public and answer any origin.
"""

from __future__ import annotations

from collections.abc import Iterable

from quart import Quart, Response, request

from idp.oauth.clients_file import ClientEntry
from idp.oauth.origins import web_origin

APP_PATHS = frozenset({"/oauth/token", "/oauth/revoke", "/oauth/userinfo"})
PUBLIC_PREFIX = "/.well-known/"
PREFLIGHT_MAX_AGE = 600


def allowed_origins(entries: Iterable[ClientEntry]) -> frozenset[str]:
    """The web origins of the public clients' redirect URIs (native apps' schemes have none)."""
    return frozenset(
        origin
        for entry in entries if entry.token_endpoint_auth_method == "none"
        for uri in entry.redirect_uris
        if (origin := web_origin(uri)) is not None
    )


def install(app: Quart, entries: Iterable[ClientEntry]) -> None:
    origins = allowed_origins(entries)

    @app.before_request
    async def _preflight() -> Response | None:
        """Answer a preflight (OPTIONS with Access-Control-Request-Method) for an allowed
        origin; the CORS headers proper are added below, as on every answer."""
        rule = request.url_rule
        if (request.method != "OPTIONS" or rule is None or rule.rule not in APP_PATHS
                or "Access-Control-Request-Method" not in request.headers
                or request.headers.get("Origin") not in origins):
            return None
        methods = sorted((rule.methods or set()) - {"OPTIONS", "HEAD"})
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
        return response

    @app.after_request
    async def _cors_headers(response: Response) -> Response:
        if request.path in APP_PATHS:
            response.vary.add("Origin")  # the answer differs by Origin: caches must know
            origin = request.headers.get("Origin")
            if origin in origins:
                response.headers["Access-Control-Allow-Origin"] = origin
                # what an app reads from errors: the Bearer challenge, and when to retry
                response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate, Retry-After"
        elif request.path.startswith(PUBLIC_PREFIX):
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response
