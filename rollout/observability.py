"""The service's Prometheus figures over HTTP: the middleware that times and counts every
request, and /metrics (every worker's figures added up in multiprocess mode, otherwise the
process's own registry). The metrics themselves are defined in rollout/metrics.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from rollout.metrics import ASSIGNMENTS, LATENCY, REQUESTS


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def count_assignment(experiment: str, variant: str, in_experiment: bool) -> None:
    """One served assignment; the labelled child is looked up once per label set, not per call
    (`labels()` validates and locks each time: a tenth of a tracked assign's own work)."""
    child = _assignment_children.get((experiment, variant, in_experiment))
    if child is None:
        child = ASSIGNMENTS.labels(experiment, variant, "true" if in_experiment else "false")
        _assignment_children[(experiment, variant, in_experiment)] = child
    child.inc()


_assignment_children: dict[tuple[str, str, bool], Any] = {}

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
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()

        def observing_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            # Flask starts the response inside its request context, so its request is still
            # in the environ here (it is cleared when the context is popped).
            rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
            route = rule.rule if rule is not None else "unmatched"
            method = environ.get("REQUEST_METHOD", "GET").upper()
            latency, count = self._children_for(method, route, status[:3])
            latency.observe(time.perf_counter() - started)
            count.inc()
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, observing_start_response)

    def _children_for(self, method: str, route: str, code: str) -> tuple[Any, Any]:
        children = self._children.get((method, route, code))
        if children is None:
            children = (LATENCY.labels(method, route), REQUESTS.labels(method, route, code))
            self._children[(method, route, code)] = children
        return children


def instrument(app: Flask) -> None:
    app.wsgi_app = RequestMetrics(app.wsgi_app)  # type: ignore[method-assign]
