"""Start the service, run both scenarios until they finish (or `DEADLINE_S`), stop everything."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from rollout.demo.llm_server import local_openai
from rollout.demo.receiver import WEBHOOK_SECRET, Webhooks, webhook_receiver
from rollout.demo.report import ALWAYS_VALID, TimelineLog, Watch, progress, summary
from rollout.demo.scenarios import MODELS, SCENARIOS, STAGES, apply_examples, define
from rollout.demo.traffic import WORKERS, Traffic
from rollout.embedded import EmbeddedRedis, free_port
from rollout.http import ServiceClient, ServiceError

DEADLINE_S = 55.0
INTERVAL_S = 0.5
READY_S = 90.0
"""A cold start (imports, the embedded Redis, two gunicorn workers) took 22 s on a busy 2-core
machine; the bound only catches a service that never comes up."""


@contextmanager
def service(workdir: Path, webhook_url: str, admin_key: str) -> Iterator[str]:
    """Embedded Redis plus `rollout serve` (gunicorn + the controller); stopped on exit."""
    redis_server = EmbeddedRedis(workdir / "redis", persistent=False).start()
    port = free_port()
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir()
    env = dict(
        os.environ,
        REDIS_URL=redis_server.url,
        ROLLOUT_ADMIN_KEY=admin_key,
        ROLLOUT_CONTROLLER_INTERVAL_S=str(INTERVAL_S),
        ROLLOUT_WEBHOOK_URLS=webhook_url,
        ROLLOUT_WEBHOOK_SECRET=WEBHOOK_SECRET,
        # The receiver listens on loopback, which webhooks may reach only when allowed.
        ROLLOUT_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        ROLLOUT_DATA_DIR=str(workdir / "data"),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="warning",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "rollout.cli", "serve", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(ServiceClient(base, None, timeout_s=1.0), server)
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        redis_server.stop()


def _wait_ready(probe: ServiceClient, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            error = server.stderr.read() if server.stderr else ""
            raise RuntimeError(f"the service exited at start-up:\n{error[-2000:]}")
        try:
            probe.get("/readyz")
            return
        except ServiceError:
            time.sleep(0.1)
    raise RuntimeError(f"the service did not become ready within {READY_S:.0f} s")


def run(workdir: Path) -> int:
    hooks = Webhooks()
    admin_key = "rk_demo-" + secrets.token_hex(24)
    began = time.monotonic()
    with ExitStack() as stack:
        hook_url = stack.enter_context(webhook_receiver(hooks))
        print(
            "starting the service (embedded Redis, gunicorn with 2 workers, controller "
            f"every {INTERVAL_S} s) ...",
            flush=True,
        )
        base = stack.enter_context(service(workdir, hook_url, admin_key))
        admin = ServiceClient(base, admin_key)
        keys = {
            role: ServiceClient(base, admin.post(
                "/api/v1/keys", {"name": f"demo-{role}", "role": role}
            )["secret"])
            for role in ("editor", "release", "sdk")
        }
        apply_examples(keys["editor"])
        for scenario in SCENARIOS:
            define(keys["editor"], keys["release"], scenario)
        print(
            f"service up at {base}; two prompts, two versions each, two experiments with "
            f"stages {', '.join(format(s['traffic'], '.0%') for s in STAGES)}",
            flush=True,
        )
        llm = stack.enter_context(local_openai(MODELS, seed=2025))
        print(
            f"a local OpenAI-compatible server at {llm.base_url} ({', '.join(MODELS)}); "
            f"{WORKERS} application\nthreads call it with the official openai client through "
            "RolloutOpenAI, which measures latency, tokens and cost",
            flush=True,
        )
        print(f"({ALWAYS_VALID})", flush=True)
        traffic = Traffic(base, str(keys["sdk"].key), llm.base_url, seed=2025)
        stack.callback(traffic.close)
        started = time.time()  # the timeline's origin, in the history's Unix seconds
        sdk_log = TimelineLog(started)
        logging.getLogger("rollout_sdk").addHandler(sdk_log)
        logging.getLogger("rollout_sdk").propagate = False
        traffic.start()
        watches = {s.key: Watch() for s in SCENARIOS}
        while time.monotonic() - began < DEADLINE_S:
            time.sleep(1.0)
            progress(keys["release"], started, watches, traffic, sdk_log)
            if all(w.finished_at is not None for w in watches.values()):
                break
        traffic.close()
        time.sleep(0.5)  # let the last webhook deliveries land
        ok = summary(watches, hooks, traffic, llm, time.monotonic() - began)
    print(f"stopped everything the demo started ({time.monotonic() - began:.0f} s in all)")
    return 0 if ok else 1


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="rollout-demo-"))
    try:
        return run(workdir)
    except ServiceError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
