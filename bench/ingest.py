"""Event ingestion throughput, against a baseline measured in the same run.

- store: `Store.events.ingest` (experiments/store/lua/ingest_events.lua): exposure check, dedupe,
  per-user totals and per-variant sums, one pipelined script call per batch of 1000.
- baseline: raw redis-py sending the same per-event writes (the id as a field of a dedupe hash,
  user total, variant sum and sum of squares) as one pipelined Lua call per batch, with no
  validation, no exposure check (the variant is known client-side) and no dedupe lookups.
- http (unless --http-seconds 0): POST /api/v1/events under gunicorn (2 workers x 4 threads),
  batches of 1000 from 4 client threads for --http-seconds (or until --http-events are sent),
  as accepted events a second. Client, server and Redis share the machine.

Each path starts from the same raw tuples. Every round uses fresh event ids so that nothing is
a duplicate. The script starts its own redis-server (rollout.embedded, not persistent) in a
temporary directory and stops it.

    .venv/bin/python bench/ingest.py [--events 200000] [--users 20000] [--http-seconds 10]

On a loaded machine the figures move by tens of percent from run to run; the ratio, measured
in alternating rounds, moves less. ROLLOUT_BENCH_QUICK=1 (set by bench/run_all.py) sends 50,000
events and runs HTTP for 5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis
import requests

from experiments.model import Experiment, HistoryEntry, MetricType
from experiments.store import Store, keys
from experiments.store.events import EventWrite, Outcome
from experiments.store.exposures import ExposureWrite
from rollout.embedded import EmbeddedRedis, free_port

QUICK = os.environ.get("ROLLOUT_BENCH_QUICK") == "1"
EXP = "bench-ingest"
BATCH = 1000
WINDOW_S = 7 * 86400
METRICS = {"thumbs_up": MetricType.BINARY, "latency_ms": MetricType.MEAN, "cost": MetricType.RATIO}

BASELINE_LUA = """
local window = ARGV[1]
local events = (#ARGV - 1) / 4
for i = 1, events do
  local base = 2 + (i - 1) * 4
  local value = tonumber(ARGV[base + 3])
  redis.call('HSETNX', KEYS[3], ARGV[base], '1')
  redis.call('HINCRBYFLOAT', KEYS[2], ARGV[base + 2], value)
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[base + 1] .. 's', value)
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[base + 1] .. 'ss', value * value)
end
redis.call('EXPIRE', KEYS[3], window)
return events
"""

Raw = tuple[str, str, str, float]  # event id suffix, user, metric, value


def experiment_definition() -> Experiment:
    return Experiment.model_validate(
        {
            "key": EXP,
            "name": "Ingestion benchmark",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "b", "weight": 0.5}],
            "control": "control",
            "metrics": [{"key": k, "type": t.value} for k, t in METRICS.items()],
            "status": "running",
        }
    )


def raw_events(count: int, users: list[str], seed: int) -> list[Raw]:
    rng = random.Random(seed)
    metrics = list(METRICS)
    return [
        (str(i), rng.choice(users), rng.choice(metrics), float(rng.randrange(1000)) / 10)
        for i in range(count)
    ]


def run_store(store: Store, events: list[Raw], run: str) -> float:
    """Events a second through the store's ingestion path."""
    started = time.perf_counter()
    counted = 0
    for i in range(0, len(events), BATCH):
        writes = [
            EventWrite(EXP, user, f"{run}-{suffix}", metric, METRICS[metric], value)
            for suffix, user, metric, value in events[i : i + BATCH]
        ]
        counted += store.events.ingest(writes, WINDOW_S).count(Outcome.ACCEPTED)
    elapsed = time.perf_counter() - started
    assert counted == len(events), (counted, len(events))
    return len(events) / elapsed


def run_baseline(
    client: redis.Redis, events: list[Raw], variant_of: dict[str, int], run: str
) -> float:
    """Events a second through raw redis-py: same writes, no checks."""
    script = client.register_script(BASELINE_LUA)
    stats_key, totals_key = keys.sufficient_stats(EXP), keys.user_totals(EXP)
    started = time.perf_counter()
    for i in range(0, len(events), BATCH):
        batch = events[i : i + BATCH]
        # The event ids as fields of one hash (the store's dedupe marker, without its lookups).
        script_keys = [stats_key, totals_key, keys.event_ids_counted(EXP, WINDOW_S) + "base"]
        args: list[str | float] = [WINDOW_S]
        for suffix, user, metric, value in batch:
            args += [f"{run}-{suffix}", f"base-{metric}|{variant_of[user]}|",
                     f"base-{metric}|{user}", repr(value)]
        pipe = client.pipeline(transaction=False)
        script(keys=script_keys, args=args, client=pipe)
        pipe.execute()
    return len(events) / (time.perf_counter() - started)


def run_http(redis_url: str, events: list[Raw], seconds: float) -> float:
    """Accepted events a second over HTTP under gunicorn, 4 client threads."""
    admin = "rk_bench-admin-0123456789abcdef0123456789abcdef"
    port = free_port()
    env = dict(os.environ, REDIS_URL=redis_url, ROLLOUT_ADMIN_KEY=admin, PORT=str(port),
               HOST="127.0.0.1", WEB_CONCURRENCY="2", LOG_LEVEL="warning")
    config = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(config), "rollout.app:create_app()"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base)
        created = requests.post(f"{base}/api/v1/keys", json={"name": "bench-sdk", "role": "sdk"},
                                headers={"Authorization": f"Bearer {admin}"}, timeout=10)
        headers = {"Authorization": f"Bearer {created.json()['secret']}",
                   "Content-Type": "application/json"}
        bodies = [
            json.dumps({"events": [
                {"event_id": f"http-{s}", "user_id": u, "experiment": EXP, "metric": m, "value": v}
                for s, u, m, v in events[i : i + BATCH]
            ]})
            for i in range(0, len(events), BATCH)
        ]
        accepted = [0]
        lock = threading.Lock()
        deadline = time.perf_counter() + seconds
        cursor = iter(range(10**9))

        def client() -> None:
            session = requests.Session()
            while time.perf_counter() < deadline:
                with lock:
                    index = next(cursor)
                if index >= len(bodies):
                    return
                answer = session.post(f"{base}/api/v1/events", data=bodies[index],
                                      headers=headers, timeout=30).json()
                with lock:
                    accepted[0] += answer["accepted"]

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return accepted[0] / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=20)


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000 if QUICK else 200_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--http-seconds", type=float, default=5.0 if QUICK else 10.0)
    parser.add_argument("--http-events", type=int, default=300_000, help="at most this many")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        server = EmbeddedRedis(directory, persistent=False).start()
        try:
            store = Store.from_url(server.url)
            raw = redis.Redis.from_url(server.url, decode_responses=True)
            store.experiments.create(
                experiment_definition(), HistoryEntry(at=0.0, actor="bench", action="create")
            )
            rng = random.Random(1)
            users = [f"user-{i:07d}" for i in range(options.users)]
            variant_of = {u: rng.randrange(2) for u in users}
            for i in range(0, len(users), 5000):
                store.exposures.record(
                    [ExposureWrite(EXP, u, variant_of[u]) for u in users[i : i + 5000]], 0.0
                )
            events = raw_events(options.events, users, seed=2)
            store_rates, baseline_rates = [], []
            for round_ in range(options.rounds):
                baseline_rates.append(run_baseline(raw, events, variant_of, f"b{round_}"))
                store_rates.append(run_store(store, events, f"s{round_}"))
            store_rate = statistics.median(store_rates)
            baseline_rate = statistics.median(baseline_rates)
            print(f"events: {options.events} in batches of {BATCH}, {options.users} users, "
                  f"median of {options.rounds} rounds, one client")
            print(f"  store ingestion path   {store_rate:>10,.0f} events/s")
            print(f"  baseline (raw redis-py){baseline_rate:>10,.0f} events/s")
            print(f"  ratio store/baseline   {store_rate / baseline_rate:>10.2f}  (target >= 0.50)")
            if options.http_seconds > 0:
                http_events = raw_events(options.http_events, users, seed=3)
                http_rate = run_http(server.url, http_events, options.http_seconds)
                print(f"  HTTP under gunicorn    {http_rate:>10,.0f} events/s "
                      f"(2 workers x 4 threads, 4 client threads, same machine)")
                print(f"  ratio HTTP/store       {http_rate / store_rate:>10.2f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
