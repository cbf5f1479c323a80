"""Figures buffered in memory reach Prometheus exactly as one write per figure would."""

from __future__ import annotations

import secrets
import threading

from prometheus_client import CollectorRegistry, Histogram

from rollout.metrics import ASSIGNMENTS, LATENCY, REQUESTS
from rollout.metrics_buffer import FLUSH_AT, MetricsBuffer


def _samples(metric: object, route: str) -> dict[tuple[str, str], float]:
    """(sample name, bucket bound or "") -> value, for one route's series of `metric`."""
    found: dict[tuple[str, str], float] = {}
    for family in metric.collect():  # type: ignore[attr-defined]
        for sample in family.samples:
            if sample.labels.get("route") == route and not sample.name.endswith("_created"):
                found[(sample.name, sample.labels.get("le", ""))] = sample.value
    return found


def test_latencies_land_in_the_buckets_and_sum_that_observe_gives() -> None:
    route = "/r/" + secrets.token_hex(4)
    # On a bound (the bucket that holds it), between bounds, above the top, zero.
    seconds = [0.0, 0.0005, 0.0007, 0.001, 0.003, 0.003, 0.25, 2.5, 7.0, 1e-9]
    reference = Histogram(
        "rollout_http_request_duration_seconds", "the same histogram, observed one by one",
        ["method", "route"], buckets=LATENCY._upper_bounds[:-1], registry=CollectorRegistry(),
    )
    buffer = MetricsBuffer()
    for value in seconds:
        buffer.request("GET", route, "200", value)
        reference.labels("GET", route).observe(value)
    assert _samples(LATENCY, route) == {}  # nothing written before the flush
    buffer.flush()
    assert _samples(LATENCY, route) == _samples(reference, route)
    assert _samples(LATENCY, route)[("rollout_http_request_duration_seconds_count", "")] == 10
    counted = REQUESTS.labels("GET", route, "200")._value.get()
    assert counted == len(seconds)


def test_assignments_are_counted_by_experiment_variant_and_membership() -> None:
    experiment = "exp-" + secrets.token_hex(4)
    buffer = MetricsBuffer()
    served = (("control", True, 3), ("friendly", True, 2), ("control", False, 4))
    for variant, member, times in served:
        for _ in range(times):
            buffer.assignment(experiment, variant, member)
    buffer.flush()
    assert ASSIGNMENTS.labels(experiment, "control", "true")._value.get() == 3
    assert ASSIGNMENTS.labels(experiment, "friendly", "true")._value.get() == 2
    assert ASSIGNMENTS.labels(experiment, "control", "false")._value.get() == 4


def test_figures_recorded_by_threads_during_flushes_are_all_written() -> None:
    experiment = "exp-" + secrets.token_hex(4)
    buffer = MetricsBuffer()
    per_thread, threads = 20_000, 4
    flushing = threading.Event()

    def record() -> None:
        for _ in range(per_thread):
            buffer.assignment(experiment, "control", True)

    def flush_meanwhile() -> None:
        while not flushing.is_set():
            buffer.flush()

    flusher = threading.Thread(target=flush_meanwhile)
    flusher.start()
    workers = [threading.Thread(target=record) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    flushing.set()
    flusher.join()
    buffer.stop()
    assert ASSIGNMENTS.labels(experiment, "control", "true")._value.get() == per_thread * threads


def test_a_full_buffer_is_written_by_the_request_that_fills_it() -> None:
    experiment = "exp-" + secrets.token_hex(4)
    buffer = MetricsBuffer()  # no thread started: only the size bound flushes
    for _ in range(FLUSH_AT - 1):
        buffer.assignment(experiment, "control", True)
    assert ASSIGNMENTS.labels(experiment, "control", "true")._value.get() == 0
    buffer.assignment(experiment, "control", True)
    assert ASSIGNMENTS.labels(experiment, "control", "true")._value.get() == FLUSH_AT


def test_the_thread_writes_within_the_interval_and_stop_writes_the_rest() -> None:
    experiment = "exp-" + secrets.token_hex(4)
    buffer = MetricsBuffer()
    buffer.start()
    buffer.assignment(experiment, "control", True)
    child = ASSIGNMENTS.labels(experiment, "control", "true")
    written = threading.Event()
    for _ in range(50):
        if child._value.get() == 1:
            written.set()
            break
        written.wait(0.05)
    assert written.is_set()
    buffer.assignment(experiment, "control", True)
    buffer.stop()
    assert child._value.get() == 2
