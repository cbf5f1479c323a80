"""The service's Prometheus figures over HTTP: the middleware that times and counts every
request, and /metrics (every worker's figures added up in multiprocess mode, otherwise the
process's own registry). The metrics themselves are defined in rollout/metrics.py; the figures
of each request wait in rollout/metrics_buffer.py until they are written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from rollout.metrics_buffer import BUFFER


def metrics_response() -> Response:
    BUFFER.flush()  # this process's own figures, up to this request
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def count_assignment(experiment: str, variant: str, in_experiment: bool) -> None:
    """One served assignment (written to rollout_assignments_total with the next flush)."""
    BUFFER.assignment(experiment, variant, in_experiment)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RequestMetrics:
    """WSGI middleware that times every request and counts it by method, route and status.

    It stands outside Flask rather than in before/after_request hooks, whose dispatch (a
    coroutine check per hook, `g` and `request` through context-local proxies) cost more than
    the figures themselves; the route is read from the request Flask keeps in the environ
    (`werkzeug.request`) when it starts the response.
    """

    def __init__(self, wsgi_app: WsgiApp) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()

        def observing_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            # Flask starts the response inside its request context, so its request is still
            # in the environ here (it is cleared when the context is popped).
            rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
            route = rule.rule if rule is not None else "unmatched"
            method = environ.get("REQUEST_METHOD", "GET").upper()
            BUFFER.request(method, route, status[:3], time.perf_counter() - started)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, observing_start_response)


def instrument(app: Flask) -> None:
    app.wsgi_app = RequestMetrics(app.wsgi_app)  # type: ignore[method-assign]
