"""Results latency at 1M exposed users with 3 metrics, and Redis memory per user and per event.

The data goes in through the real scripts (record_exposures.lua, ingest_events.lua) in large
batches, so the memory figures are those of the service's own layout: one exposure per user,
one event per user and metric (binary, mean, ratio), event ids of 32 hex characters.

Memory (INFO memory, used_memory) is measured at --memory-users (100k) users: per exposed user
(exposures hash), per user and metric (per-user totals), and per event (dedupe markers, removed
afterwards to separate them). The fill then goes on to --users (1M) for the latency figures:

- results: GET /api/v1/experiments/{key}/results through the Flask app (auth, snapshot in one
  round trip, analysis, controller decision, JSON), median and p99 of --repeat calls;
- baseline: the same two reads (GET definition, HGETALL sums) pipelined with raw redis-py, the
  I/O floor of any implementation;
- naive: what results would cost without sufficient statistics, reading every per-user total
  (HSCAN of the totals hash), timed once.

    .venv/bin/python bench/results.py [--users 1000000] [--memory-users 100000]

The full run takes about 5 minutes (the fill goes through the real scripts). ROLLOUT_BENCH_QUICK=1
(set by bench/run_all.py) fills 200,000 users instead; the latency does not depend on the count.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time

import redis

from experiments.model import Experiment, HistoryEntry, MetricType
from experiments.store import Store, connect, keys
from experiments.store.events import EventWrite, Outcome
from experiments.store.exposures import ExposureWrite
from rollout.app import create_app
from rollout.embedded import EmbeddedRedis
from rollout.settings import Settings

QUICK = os.environ.get("ROLLOUT_BENCH_QUICK") == "1"
EXP = "bench-results"
ADMIN = "rk_bench-admin-0123456789abcdef0123456789abcdef"
CHUNK = 5_000
TARGET_USERS = 1_000_000


def definition() -> Experiment:
    return Experiment.model_validate(
        {
            "key": EXP,
            "name": "Results benchmark",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
            "control": "control",
            "metrics": [
                {"key": "thumbs_up", "type": "binary", "role": "primary"},
                {"key": "latency_ms", "type": "mean", "role": "guardrail",
                 "direction": "decrease", "max_regression": 0.1},
                {"key": "cost_usd", "type": "ratio", "role": "guardrail",
                 "direction": "decrease", "max_regression": 0.05},
            ],
            "status": "running",
            "started_at": 0.0,
        }
    )


def expose(store: Store, first: int, last: int, rng: random.Random) -> list[int]:
    """Record the exposures of users first..last-1; answers their variant indexes."""
    variants = [rng.randrange(2) for _ in range(first, last)]
    for start in range(first, last, CHUNK):
        stop = min(last, start + CHUNK)
        store.exposures.record(
            [ExposureWrite(EXP, user(i), variants[i - first]) for i in range(start, stop)], 0.0
        )
    return variants


def send_events(
    store: Store, first: int, variants: list[int], rng: random.Random, metric: str | None = None
) -> None:
    """One event of each metric (or of `metric` only) for each user from `first` on."""
    for start in range(0, len(variants), CHUNK):
        writes = []
        for offset, variant in enumerate(variants[start : start + CHUNK]):
            name = user(first + start + offset)
            if metric in (None, "thumbs_up"):
                writes.append(EventWrite(EXP, name, f"{rng.getrandbits(128):032x}", "thumbs_up",
                                         MetricType.BINARY,
                                         float(rng.random() < 0.2 + 0.02 * variant)))
            if metric in (None, "latency_ms"):
                writes.append(EventWrite(EXP, name, f"{rng.getrandbits(128):032x}", "latency_ms",
                                         MetricType.MEAN, round(rng.lognormvariate(6.5, 0.4), 1)))
            if metric in (None, "cost_usd"):
                writes.append(EventWrite(EXP, name, f"{rng.getrandbits(128):032x}", "cost_usd",
                                         MetricType.RATIO, round(rng.gammavariate(2.0, 0.001), 6),
                                         float(rng.randrange(1, 6))))
        outcomes = store.events.ingest(writes)
        assert outcomes.count(Outcome.ACCEPTED) == len(writes)


def user(i: int) -> str:
    return f"user-{i:07d}"


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def settled_memory(client: redis.Redis) -> int:
    """used_memory once the server's cron has resized its tables after a change (hz 10)."""
    previous = used_memory(client)
    for _ in range(50):
        time.sleep(0.3)
        current = used_memory(client)
        if abs(current - previous) < 4096:
            return current
        previous = current
    return previous


def drop_dedupe_markers(client: redis.Redis) -> int:
    dropped = 0
    pattern = keys.event_seen(EXP, "*")
    batch: list[str] = []
    for key in client.scan_iter(match=pattern, count=10_000):
        batch.append(key)
        if len(batch) == 10_000:
            dropped += client.delete(*batch)
            batch = []
    if batch:
        dropped += client.delete(*batch)
    return dropped


def timed(call: object, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return sorted(samples)


def p99(samples: list[float]) -> float:
    return samples[min(len(samples) - 1, int(0.99 * len(samples)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200_000 if QUICK else 1_000_000)
    parser.add_argument("--memory-users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    options = parser.parse_args()
    rng = random.Random(5)

    with tempfile.TemporaryDirectory() as directory:
        server = EmbeddedRedis(directory, persistent=False).start()
        try:
            store = Store(connect(server.url, timeout_s=60.0))  # big batches while filling
            client = redis.Redis.from_url(server.url, decode_responses=True)
            store.experiments.create(definition(), HistoryEntry(at=0.0, actor="b", action="c"))
            n = options.memory_users
            before = settled_memory(client)
            variants = expose(store, 0, n, rng)
            exposed = settled_memory(client)
            print(f"memory at {n:,} exposed users (ids of 12 characters), one event per user and"
                  " metric (ids of 32 hex characters)")
            print(f"  per exposed user (exposure)          {(exposed - before) / n:7.1f} bytes")
            send_events(store, 0, variants, rng)
            with_markers = settled_memory(client)
            drop_dedupe_markers(client)
            after = settled_memory(client)
            per_metric = (after - exposed) / (3 * n)
            marker = (with_markers - after) / (3 * n)
            print(f"  per exposed user per metric (totals) {per_metric:7.1f} bytes  (binary keeps"
                  " a total only for users with a success, here 20%)")
            print(f"  per event (dedupe marker)            {marker:7.1f} bytes")
            per_user = (exposed - before) / n + 3 * per_metric
            projected = TARGET_USERS * per_user / 2**20
            markers_mib = marker * 3 * TARGET_USERS / 2**20
            print(f"  projected at {TARGET_USERS:,} users x 3 metrics: {projected:,.0f} MiB,"
                  f" + {markers_mib:,.0f} MiB for the markers of {3 * TARGET_USERS:,} events"
                  " (target < 1024 MiB in all)")

            send_events(store, n, expose(store, n, options.users, rng), rng)
            total = settled_memory(client)
            markers = drop_dedupe_markers(client)
            print(f"memory at {options.users:,} users: {total / 2**20:,.0f} MiB with the"
                  f" {markers:,} markers of the events since user {n:,},"
                  f" {settled_memory(client) / 2**20:,.0f} MiB without markers")

            app = create_app(Settings(redis_url=server.url, admin_key=ADMIN), store)
            http = app.test_client()
            headers = {"Authorization": f"Bearer {ADMIN}"}
            path = f"/api/v1/experiments/{EXP}/results"
            assert http.get(path, headers=headers).status_code == 200

            def baseline() -> None:
                pipe = client.pipeline(transaction=False)
                pipe.get(keys.experiment(EXP))
                pipe.hgetall(keys.sufficient_stats(EXP))
                pipe.execute()

            results = timed(lambda: http.get(path, headers=headers), options.repeat)
            floor = timed(baseline, options.repeat)
            started = time.perf_counter()
            fields = sum(1 for _ in client.hscan_iter(keys.user_totals(EXP), count=10_000))
            naive = (time.perf_counter() - started) * 1000
            print(f"results latency at {options.users:,} users x 3 metrics, {options.repeat} calls")
            print(f"  GET .../results (Flask app)      median {statistics.median(results):6.2f} ms"
                  f"  p99 {p99(results):6.2f} ms  (target < 20 ms)")
            print(f"  baseline: the two reads, raw     median {statistics.median(floor):6.2f} ms"
                  f"  p99 {p99(floor):6.2f} ms")
            ratio = statistics.median(results) / statistics.median(floor)
            print(f"  ratio results/baseline           {ratio:6.1f}")
            print(f"  naive: scan {fields:,} per-user totals  {naive:,.0f} ms once"
                  f"  ({naive / statistics.median(results):,.0f}x the results call)")
            app.extensions["rollout"].close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
