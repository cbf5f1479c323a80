"""Operational endpoints: liveness, readiness, metrics, and the API's own documentation."""

from __future__ import annotations

from functools import cache
from typing import Any

import redis
from flask import Blueprint, Response, jsonify, request, send_from_directory

from rollout.api.routing import route, runtime
from rollout.observability import metrics_response

blueprint = Blueprint("ops", __name__)

DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>prompt-rollout API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""


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
    from rollout.app import service_version
    from rollout.openapi import build_openapi

    return build_openapi(service_version())


@route(blueprint, "/openapi.json", "GET", summary="This API's OpenAPI document", roles=None)
def openapi() -> Response:
    return jsonify(_openapi_document())


@route(blueprint, "/docs", "GET", summary="Interactive API documentation", roles=None)
def docs() -> Response:
    return Response(DOCS_PAGE, mimetype="text/html")


@blueprint.get("/docs/assets/<path:name>")
def docs_assets(name: str) -> Response:
    """Swagger UI's files come from a Python package, so /docs works with no internet access."""
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(swagger_ui_path, name)
