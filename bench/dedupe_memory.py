"""Memory per remembered event id: the per-id SET markers of before against the bucket hashes.

Both measured in the same run on the same redis-server (rollout.embedded, not persistent), as
the growth of `INFO memory` used_memory over `--ids` distinct event ids of users who are
already counted (their exposures and per-user totals exist before the first measurement), so
the growth is the markers alone:

- before: what ingest_events.lua wrote until now, one `SET <keys.event_seen> 1 NX EX window`
  an id, written here directly in pipelines;
- after: `Store.events.ingest` itself (batches of 1000), whose ids become fields of the
  experiment's time-bucket hashes.

Ids are shaped as the SDKs make them (16 hex digits of the client, "-", a hexadecimal counter).
The ids arrive at a steady rate over one window (7 days, their clock injected), so the window's
eight buckets each open with shards sized from the bucket before, as in a running experiment.

    .venv/bin/python bench/dedupe_memory.py [--ids 3000000]

Target: <= 50 B an id. ROLLOUT_BENCH_QUICK=1 (set by bench/run_all.py) measures 300,000 ids.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time

import redis

from experiments.model import Experiment, HistoryEntry, MetricType
from experiments.store import Store, keys
from experiments.store.connection import connect
from experiments.store.events import EventWrite, Outcome, dedupe_bucket_s
from experiments.store.exposures import ExposureWrite
from rollout.embedded import EmbeddedRedis

QUICK = os.environ.get("ROLLOUT_BENCH_QUICK") == "1"
EXP = "bench-dedupe"
USERS = 1000
BATCH = 1000
WINDOW_S = 7 * 86400


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def event_ids(count: int) -> list[str]:
    client = secrets.token_hex(8)
    return [f"{client}-{i:x}" for i in range(count)]


def prepare(store: Store) -> list[str]:
    """The experiment, its exposed users, and each user's totals already written."""
    definition = Experiment.model_validate(
        {
            "key": EXP,
            "name": "Dedupe memory",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "b", "weight": 0.5}],
            "control": "control",
            "metrics": [{"key": "latency_ms", "type": "mean"}],
            "status": "running",
        }
    )
    store.experiments.create(definition, HistoryEntry(at=0.0, actor="bench", action="create"))
    users = [f"user-{i:05d}" for i in range(USERS)]
    store.exposures.record([ExposureWrite(EXP, u, i % 2) for i, u in enumerate(users)], 0.0)
    warm = [EventWrite(EXP, u, f"warm-{u}", "latency_ms", MetricType.MEAN, 1.0) for u in users]
    assert set(store.events.ingest(warm, WINDOW_S)) == {Outcome.ACCEPTED}
    return users


def markers_before(client: redis.Redis, ids: list[str]) -> int:
    """Bytes the per-id SET NX EX markers take."""
    start = used_memory(client)
    for i in range(0, len(ids), 10_000):
        pipe = client.pipeline(transaction=False)
        for event_id in ids[i : i + 10_000]:
            pipe.set(keys.event_seen(EXP, event_id), "1", nx=True, ex=WINDOW_S)
        assert all(pipe.execute())
    return used_memory(client) - start


def markers_after(store: Store, client: redis.Redis, ids: list[str], users: list[str]) -> int:
    """Bytes the bucket-shard fields take at steady state, written by the store's ingestion path.

    The ids arrive at a steady rate over one window (their `now` injected); a bucket's worth
    arrives first, in the bucket before, and is not measured: it is what the first measured
    bucket sizes its shards from, as a running experiment's previous bucket is.
    """
    bucket_s = dedupe_bucket_s(WINDOW_S)
    per_second = len(ids) / WINDOW_S
    start_s = (int(time.time()) // bucket_s + 1) * bucket_s

    def ingest(batch: list[str], now: float) -> None:
        writes = [
            EventWrite(EXP, users[j % USERS], event_id, "latency_ms", MetricType.MEAN, 1.0)
            for j, event_id in enumerate(batch)
        ]
        assert set(store.events.ingest(writes, WINDOW_S, now=now)) == {Outcome.ACCEPTED}

    warm = event_ids(len(ids) * bucket_s // WINDOW_S)
    for i in range(0, len(warm), BATCH):
        ingest(warm[i : i + BATCH], start_s - bucket_s + i / per_second)
    start = used_memory(client)
    for i in range(0, len(ids), BATCH):
        ingest(ids[i : i + BATCH], start_s + i / per_second)
    return used_memory(client) - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=300_000 if QUICK else 3_000_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dedupe-") as directory:
        server = EmbeddedRedis(directory, persistent=False).start()
        try:
            # A generous timeout: on a loaded machine a batch may wait longer than a request may.
            store = Store(connect(server.url, timeout_s=60.0))
            client = redis.Redis.from_url(server.url)
            users = prepare(store)
            started = time.perf_counter()
            # One after the other on the same server; neither is deleted, so each figure is
            # the growth its own markers caused.
            after = markers_after(store, client, event_ids(options.ids), users)
            before = markers_before(client, event_ids(options.ids))
            elapsed = time.perf_counter() - started
        finally:
            server.stop()
    print(f"dedupe markers: {options.ids:,} distinct event ids, growth of INFO used_memory")
    print(f"  before: one SET NX EX key an id   {before / options.ids:6.1f} B an id")
    print(f"  after:  time-bucket hash fields   {after / options.ids:6.1f} B an id  (target <= 50)")
    print(f"  ratio after/before                {after / before:6.2f}   ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
