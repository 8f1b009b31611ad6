"""Liveness and readiness for orchestrators."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from idp.http.context import services
from idp.http.prepared import Prepared
from idp.store.mongo import PING_TIMEOUT_SECONDS, ping

bp = Blueprint("health", __name__)


ALIVE = Prepared(b'{"status":"ok"}')


@bp.get("/healthz")
async def healthz() -> Response:
    """Also answered in front of the app (idp.http.prepared): the route serves the
    requests the prepared answer leaves to the app (a body, another method)."""
    return Response(ALIVE.body, content_type="application/json")


@bp.get("/readyz")
async def readyz() -> Response:
    svc = services()
    checks = {
        "database": svc.database_prepared and await ping(svc.db, min(PING_TIMEOUT_SECONDS, svc.settings.db_timeout / 2)),
        "signing_key": svc.keyring.loaded,
    }
    response = jsonify({"status": "ready" if all(checks.values()) else "not_ready", "checks": checks})
    response.status_code = 200 if all(checks.values()) else 503
    response.headers["Cache-Control"] = "no-store"
    return response
