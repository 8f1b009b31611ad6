"""Liveness and readiness for orchestrators."""

from __future__ import annotations

from quart import Blueprint, Response, current_app, jsonify

from idp.http.context import services
from idp.store.mongo import ping

bp = Blueprint("health", __name__)


@bp.get("/healthz")
async def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
async def readyz() -> Response:
    svc = services()
    checks = {
        "database": svc.database_prepared and await ping(svc.db),
        "signing_key": svc.keyring.loaded,
    }
    response = jsonify({"status": "ready" if all(checks.values()) else "not_ready", "checks": checks})
    response.status_code = 200 if all(checks.values()) else 503
    response.headers["Cache-Control"] = "no-store"
    return response
