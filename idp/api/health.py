"""Liveness and readiness for orchestrators."""

from __future__ import annotations

from quart import Blueprint, Response, current_app, jsonify

from idp.store.mongo import ping

bp = Blueprint("health", __name__)


@bp.get("/healthz")
async def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
async def readyz() -> Response:
    services = current_app.extensions["idp"]
    checks = {
        "database": services.database_prepared and await ping(services.db),
        "signing_key": services.keyring.loaded,
    }
    response = jsonify({"status": "ready" if all(checks.values()) else "not_ready", "checks": checks})
    response.status_code = 200 if all(checks.values()) else 503
    response.headers["Cache-Control"] = "no-store"
    return response
