"""End to end: an application's threads using the SDK against the service as `make run` starts it.

`rollout serve` (gunicorn with deploy/gunicorn.conf.py, the in-process controller, an embedded
persistent redis-server) runs on a free port with a throw-away data directory. One
`RolloutClient` is shared by `--threads` application threads (4) for `--duration` seconds (30);
each handles "requests" in a loop: assign a user (from a pool, so users return), and for users
in the experiment track two metrics, then spend `--work-ms` on the request's own work (sleep).
After `flush`, the service's results must hold every exposed user and every event exactly once:
the sums of the metrics (mean x users over the variants) against what the threads tracked.

    .venv/bin/python bench/e2e_sdk.py [--duration 30] [--threads 4] [--work-ms 1]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from rollout.client import RolloutClient
from rollout.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("ROLLOUT_BENCH_QUICK") == "1"
EXP = "e2e-sdk"
SEED = 20240601


@dataclass
class Tally:
    """What one application thread did."""

    requests: int = 0
    users: set[str] = field(default_factory=set)
    events: int = 0
    clicks: int = 0
    latency_sum: int = 0
    refused: int = 0


def serve(workdir: Path, admin: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, HOST="127.0.0.1", PORT=str(port), ROLLOUT_ADMIN_KEY=admin,
               ROLLOUT_DATA_DIR=str(workdir / "data"), LOG_LEVEL="warning")
    env.pop("REDIS_URL", None)  # like `make run` on a fresh machine: the embedded Redis
    process = subprocess.Popen([sys.executable, "-m", "rollout.cli", "serve"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("rollout serve exited at start-up")
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("rollout serve did not become ready")


def call(url: str, key: str, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, url + path, json=body, timeout=30,
                                headers={"Authorization": f"Bearer {key}"})
    response.raise_for_status()
    return response.json()


def prepare(url: str, admin: str) -> dict[str, str]:
    keys = {
        role: call(url, admin, "POST", "/api/v1/keys", {"name": f"e2e-{role}", "role": role})[
            "secret"
        ]
        for role in ("editor", "release", "sdk")
    }
    experiment = {
        "key": EXP, "name": "SDK end to end", "control": "control",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
        "metrics": [{"key": "clicks", "type": "mean", "role": "primary"},
                    {"key": "latency_ms", "type": "mean", "role": "guardrail",
                     "direction": "decrease", "max_regression": 10.0}],
    }
    call(url, keys["editor"], "POST", "/api/v1/experiments", experiment)
    call(url, keys["release"], "POST", f"/api/v1/experiments/{EXP}/start", {})
    return keys


def application(client: RolloutClient, index: int, stop: threading.Event, pool: int,
                work_s: float, tally: Tally) -> None:
    rng = random.Random(SEED + index)
    while not stop.is_set():
        user = f"user-{index}-{rng.randrange(pool)}"
        answer = client.assign(user, EXP, {"plan": "pro"})
        tally.requests += 1
        if answer.in_experiment:
            tally.users.add(user)
            latency = rng.randint(50, 500)
            for metric, value in (("clicks", 1), ("latency_ms", latency)):
                if client.track(user, EXP, metric, value) is None:
                    tally.refused += 1
                    continue
                tally.events += 1
                if metric == "clicks":
                    tally.clicks += 1
                else:
                    tally.latency_sum += latency
        if work_s:
            time.sleep(work_s)


def totals(url: str, key: str) -> tuple[int, dict[str, float]]:
    results = call(url, key, "GET", f"/api/v1/experiments/{EXP}/results")
    users = sum(v["users"] for v in results["variants"].values())
    sums = {
        m["metric"]: sum((v["mean"] or 0.0) * v["users"] for v in m["variants"].values())
        for m in results["metrics"]
    }
    return users, sums


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0 if QUICK else 30.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--work-ms", type=float, default=1.0,
                        help="the request's own work, as a sleep (0: assign and track flat out)")
    parser.add_argument("--users", type=int, default=20_000, help="user pool of each thread")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    with tempfile.TemporaryDirectory(prefix="bench-e2e-sdk-") as tmp:
        admin = "rk_bench-" + secrets.token_hex(24)
        process, url = serve(Path(tmp), admin)
        try:
            keys = prepare(url, admin)
            client = RolloutClient(url, keys["sdk"])
            stop = threading.Event()
            tallies = [Tally() for _ in range(args.threads)]
            threads = [
                threading.Thread(target=application, args=(client, i, stop, args.users,
                                                           args.work_ms / 1000.0, tallies[i]))
                for i in range(args.threads)
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            time.sleep(args.duration)
            stop.set()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            flush_started = time.monotonic()
            flushed = client.close(timeout=300)
            flush_s = time.monotonic() - flush_started
            stats = client.stats()
            users, sums = totals(url, keys["editor"])
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)

    served = sum(t.requests for t in tallies)
    exposed = len(set().union(*(t.users for t in tallies)))
    clicks = sum(t.clicks for t in tallies)
    latency = sum(t.latency_sum for t in tallies)
    refused = sum(t.refused for t in tallies)
    events = sum(t.events for t in tallies)
    print(f"{args.threads} application threads, one RolloutClient, {elapsed:.0f} s against"
          f" `rollout serve` (work {args.work_ms} ms a request)")
    print(f"   requests {served:,} ({served / elapsed:,.0f}/s), events tracked {events:,}"
          f" ({events / elapsed:,.0f}/s), refused by a full queue {refused:,}")
    print(f"   close() flushed in {flush_s:.1f} s: {'all sent' if flushed else 'NOT all sent'};"
          f" SDK requests {stats.requests:,}, retries {stats.retries:,},"
          f" duplicates {stats.events_duplicates + stats.exposures_duplicates:,},"
          f" rejected {stats.events_rejected + stats.exposures_rejected:,}")
    checks = [
        ("exposed users", exposed, users),
        ("clicks (sum)", clicks, round(sums["clicks"])),
        ("latency_ms (sum)", latency, round(sums["latency_ms"])),
    ]
    print(f"   {'':<18} {'tracked':>12} {'service':>12}")
    for name, mine, theirs in checks:
        print(f"   {name:<18} {mine:>12,} {theirs:>12,}   {'ok' if mine == theirs else 'DIFFER'}")
    exact = all(mine == theirs for _, mine, theirs in checks) and flushed
    print(f"   every event reached the service exactly once: {'yes' if exact else 'NO'}")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
