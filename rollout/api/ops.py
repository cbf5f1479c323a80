"""Operational endpoints: liveness, readiness, metrics, and the API's own documentation."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request, send_from_directory

from rollout.api.routing import route, runtime
from rollout.observability import metrics_response
from rollout.openapi import build_openapi
from rollout.version import service_version

blueprint = Blueprint("ops", __name__)

# Swagger UI 5 (it reads OpenAPI 3.1) from the npm files vendored with the console
# (rollout/console/vendor/refresh.sh); no CDN, and no inline script: docs.js starts it.
SWAGGER_UI_DIR = (
    Path(__file__).resolve().parents[1] / "console" / "static" / "vendor" / "swagger-ui-dist"
)
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>prompt-rollout API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/console/static/favicon.svg">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui" data-url="/openapi.json"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/console/static/docs.js"></script>
</body></html>"""
# Swagger UI sets inline styles from its React components, so styles may be inline here; scripts
# may not.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


@route(blueprint, "/healthz", "GET", summary="The process is up", roles=None)
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@route(
    blueprint,
    "/readyz",
    "GET",
    summary="Redis is reachable (503 otherwise)",
    roles=None,
)
def readyz() -> Any:
    try:
        runtime().store.ping()
    except (redis.RedisError, OSError):
        return {"status": "unavailable", "redis": "unreachable"}, 503
    return {"status": "ready", "redis": "ok"}


@route(
    blueprint,
    "/metrics",
    "GET",
    summary="Prometheus metrics (ROLLOUT_METRICS_TOKEN set: that bearer token or an admin key)",
    roles=None,
    errors=[401, 403],
)
def metrics() -> Response:
    rt = runtime()
    rt.auth.require_metrics(request.headers.get("Authorization"), rt.settings.metrics_token)
    return metrics_response()


@cache
def _openapi_document() -> dict[str, Any]:
    """Built on first request, once every blueprint has registered its routes."""
    return build_openapi(service_version())


@route(blueprint, "/openapi.json", "GET", summary="This API's OpenAPI document", roles=None)
def openapi() -> Response:
    return jsonify(_openapi_document())


@route(blueprint, "/docs", "GET", summary="Interactive API documentation", roles=None)
def docs() -> Response:
    response = Response(DOCS_PAGE, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_POLICY
    return response


@blueprint.get("/docs/assets/<path:name>")
def docs_assets(name: str) -> Response:
    """Swagger UI's files are served by the service, so /docs works with no internet access."""
    return send_from_directory(SWAGGER_UI_DIR, name)
