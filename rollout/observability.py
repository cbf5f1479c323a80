"""Prometheus metrics, correct under several gunicorn workers (prometheus-client multiprocess mode).

Multiprocess mode is on when PROMETHEUS_MULTIPROC_DIR is set before this module is imported
(deploy/gunicorn.conf.py sets it); otherwise the process's own registry is served.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

REQUESTS = Counter(
    "rollout_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "rollout_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ASSIGNMENTS = Counter(
    "rollout_assignments_total",
    "Assignments served by experiment and variant",
    ["experiment", "variant", "in_experiment"],
)
EVENTS = Counter("rollout_events_total", "Events by outcome", ["outcome"])
DECISIONS = Counter(
    "rollout_controller_decisions_total", "Controller decisions by action", ["action"]
)


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def instrument(app: Flask) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = getattr(g, "started", None)
        if started is not None:
            LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response
