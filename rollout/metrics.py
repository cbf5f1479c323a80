"""Every Prometheus metric the service records, defined in one place and without Flask.

Under several gunicorn workers prometheus-client runs in multiprocess mode, which is on when
PROMETHEUS_MULTIPROC_DIR is set before this module is imported (deploy/gunicorn.conf.py sets
it): each worker writes its figures to its own files and /metrics adds them up
(rollout/observability.py serves them).
"""

from __future__ import annotations

import os

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client import values as prometheus_values

from experiments.store.process_id import current_pid

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Each write checks whether a fork happened (to open the child's own files); by default it
    # asks `os.getpid()`, a system call, for every figure of every request. Set before any
    # metric exists: each value class keeps its own open files, and two would write over each
    # other's entries in the same file.
    prometheus_values.ValueClass = prometheus_values.MultiProcessValue(  # type: ignore[no-untyped-call]
        current_pid
    )

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
UNREADABLE = Gauge(
    "rollout_unreadable_experiments",
    "Stored experiments that cannot be read back, left out of the configuration",
    multiprocess_mode="max",
)
FAILED_EVALUATIONS = Counter(
    "rollout_controller_failed_evaluations_total",
    "Evaluations that failed on one experiment while the controller went on with the others",
)
