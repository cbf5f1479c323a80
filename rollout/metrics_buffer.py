"""Per-request figures added up in memory and written to Prometheus in batches.

In multiprocess mode (gunicorn) every `inc` of a prometheus-client value takes the library's
global lock and writes the worker's mmap file. A tracked assign made four such writes (its
latency's sum and bucket, its request count, its assignment count): about 30 us of a request's
420 us in the process, more than the rest of what the service adds to bare Flask
(bench/assign.py). A request now appends one tuple to a deque (atomic under the GIL, no lock),
and `flush` adds them up and writes each changed value once.

A flush runs on the worker's own thread every FLUSH_INTERVAL_S (`start`, from gunicorn's
`post_worker_init`), before a process answers /metrics, when a worker exits (gunicorn's
`worker_exit`), and on the request thread that finds FLUSH_AT figures waiting (so memory stays
bounded whatever happens to the thread). A figure therefore reaches /metrics within
FLUSH_INTERVAL_S, well inside any scrape interval.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from typing import Any

from rollout.metrics import ASSIGNMENTS, LATENCY, REQUESTS

FLUSH_INTERVAL_S = 0.5
FLUSH_AT = 4096
"""Figures waiting that make the request thread flush them itself."""


class MetricsBuffer:
    def __init__(self) -> None:
        self._requests: deque[tuple[str, str, str, float]] = deque()
        self._assignments: deque[tuple[str, str, bool]] = deque()
        self._flushing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def request(self, method: str, route: str, status: str, seconds: float) -> None:
        """One answered request: its latency and its count by status."""
        self._requests.append((method, route, status, seconds))
        if len(self._requests) >= FLUSH_AT:
            self.flush(wait=False)

    def assignment(self, experiment: str, variant: str, in_experiment: bool) -> None:
        """One served assignment."""
        self._assignments.append((experiment, variant, in_experiment))
        if len(self._assignments) >= FLUSH_AT:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Write what is waiting. One flush at a time; with `wait=False` a flush already running
        is left to do it."""
        if not self._flushing.acquire(blocking=wait):
            return
        try:
            self._flush_requests()
            self._flush_assignments()
        finally:
            self._flushing.release()

    def start(self) -> None:
        """Flush every FLUSH_INTERVAL_S on a daemon thread of this process (a gunicorn worker's:
        call it after the fork)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="metrics-flush", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left (a worker exiting)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_S):
            self.flush()

    def _flush_requests(self) -> None:
        counts: dict[tuple[str, str, str], int] = {}
        buckets: dict[tuple[str, str], list[int]] = {}
        sums: dict[tuple[str, str], float] = {}
        bounds = LATENCY._upper_bounds  # the histogram's own buckets, +Inf last
        while True:
            try:
                method, route, status, seconds = self._requests.popleft()
            except IndexError:
                break
            counts[(method, route, status)] = counts.get((method, route, status), 0) + 1
            series = (method, route)
            if series not in buckets:
                buckets[series] = [0] * len(bounds)
            buckets[series][bisect.bisect_left(bounds, seconds)] += 1
            sums[series] = sums.get(series, 0.0) + seconds
        for labels, count in counts.items():
            REQUESTS.labels(*labels).inc(count)
        for series, in_buckets in buckets.items():
            _observe_many(LATENCY.labels(*series), in_buckets, sums[series])

    def _flush_assignments(self) -> None:
        counts: dict[tuple[str, str, bool], int] = {}
        while True:
            try:
                key = self._assignments.popleft()
            except IndexError:
                break
            counts[key] = counts.get(key, 0) + 1
        for (experiment, variant, in_experiment), count in counts.items():
            ASSIGNMENTS.labels(experiment, variant, "true" if in_experiment else "false").inc(count)


def _observe_many(histogram: Any, buckets: list[int], total: float) -> None:
    """What `observe` would leave after one call per observation: `buckets[i]` observations in
    bucket i (the first whose bound holds it) and their sum. prometheus-client has no public call
    for many observations; tests/unit/test_metrics_buffer.py checks this against `observe`."""
    histogram._sum.inc(total)
    for index, count in enumerate(buckets):
        if count:
            histogram._buckets[index].inc(count)


BUFFER = MetricsBuffer()
"""The process's buffer: every request and assignment of this process goes through it."""
