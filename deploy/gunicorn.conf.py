"""Gunicorn settings for the service; `make run` (`rollout serve`) uses this file.

Workers are stateless (all state is in Redis), so scale by adding workers or replicas behind a
load balancer. Threads hide the Redis round trip of each request.
"""

import multiprocessing
import os
import tempfile

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# One process per core, threads for the Redis round trips: on 2 cores, 2 x 8 served 30-40% more
# requests than 4 x 4 in bench/assign.py (less CPU contention, same overlap of I/O).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Bounds on a request's reading where gunicorn has them: a worker silent for `timeout` is
# restarted, an idle keep-alive connection is closed after `keepalive`. gunicorn has no bound on
# the time a slow client takes to send its body, so the documented deployment puts nginx in
# front (deploy/nginx/), which buffers whole requests before a worker sees them.
timeout = 30
graceful_timeout = 10
keepalive = 5
# Above nginx's limits (large_client_header_buffers 4 8k), so behind it gunicorn never refuses a
# request nginx let through; alone, gunicorn's refusals are JSON too (post_worker_init).
limit_request_line = 8190
limit_request_fields = 200
limit_request_field_size = 16380
max_requests = 0
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# Several servers run side by side in tests and benchmarks; a shared control socket would clash.
control_socket_disable = True

# prometheus-client multiprocess mode: every worker writes its figures to this directory, so
# /metrics adds them up whichever worker answers. Set before the app (and prometheus) is imported.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="rollout-metrics-")
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    from rollout import gunicorn_errors

    gunicorn_errors.install()
    # The app is loaded by now: its modules, models and compiled schemas live as long as the
    # worker, so the collector need not walk them again in every full collection.
    import gc

    gc.freeze()
    # Each request's figures wait in memory (rollout/metrics_buffer.py); this worker's own
    # thread writes them twice a second.
    from rollout.metrics_buffer import BUFFER

    BUFFER.start()


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    from rollout.metrics_buffer import BUFFER

    BUFFER.stop()  # what is still waiting, written before the worker is gone


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
