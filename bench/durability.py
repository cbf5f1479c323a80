"""Durability: events acknowledged vs events counted while Redis is killed (SIGKILL) and comes back.

Sender threads send batches of events (a mean metric of value 1, over several experiments, so
every batch touches several slots) through `Store.events.ingest`, retrying a batch with backoff
until Redis answers it, as the SDK does. An event is acknowledged when an answer says ACCEPTED or
DUPLICATE (a duplicate means an earlier, unanswered attempt counted it). Meanwhile:

- single: one redis-server with AOF on (`appendfsync everysec`, as `make run`) is killed with
  SIGKILL and restarted from its AOF, `--kills` times;
- cluster: six nodes (three masters, a replica each, AOF on); a master is killed with SIGKILL,
  its replica takes over (cluster-node-timeout 1 s), then the killed node is restarted and rejoins
  as a replica, `--kills` times.

At the end every user's stored total (one per counted event) is compared with the events
acknowledged for that user, so a lost event and a doubled one cannot cancel out across users; and
the counted events are also read as results read them (the metric's sum over the variants). The
run prints sent, acknowledged, counted, lost (acknowledged, not counted) and doubled (counted
more than once), and exits 1 unless nothing is lost or doubled.

    .venv/bin/python bench/durability.py [--mode single|cluster|both] [--seconds 20] [--kills 3]

ROLLOUT_BENCH_QUICK=1 (set by bench/run_all.py) makes it 10 s and 2 kills a mode.
Redis Cluster replicates asynchronously: a write acknowledged by a master that dies before its
replica received it is lost on failover; the figures say whether that happened in the run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import redis

from experiments.model import Experiment, HistoryEntry, MetricType
from experiments.stats.moments import Moments
from experiments.store import Store, keys
from experiments.store.events import EventWrite, Outcome
from experiments.store.exposures import ExposureWrite
from rollout.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the cluster helper lives with the cluster test suite
from tests.cluster.redis_cluster import RedisClusterServers  # noqa: E402

EXPERIMENTS = ("dur-a", "dur-b", "dur-c", "dur-d")
METRIC = "latency_ms"
USERS = 200
BATCH = 200
SENDERS = 4
RETRY_CAP_S = 0.5
QUICK = os.environ.get("ROLLOUT_BENCH_QUICK") == "1"

T = TypeVar("T")


@dataclass
class Tally:
    """What the senders saw, under one lock."""

    sent: int = 0
    acknowledged: int = 0
    failed_attempts: int = 0
    per_user: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Acknowledged events by (experiment, user): each should add exactly 1 to that user."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def define(store: Store) -> None:
    for key in EXPERIMENTS:
        experiment = Experiment.model_validate(
            {
                "key": key,
                "name": key,
                "variants": [{"key": "control", "weight": 0.5}, {"key": "b", "weight": 0.5}],
                "control": "control",
                "metrics": [{"key": METRIC, "type": "mean"}],
                "status": "running",
            }
        )
        store.experiments.create(experiment, HistoryEntry(at=0.0, actor="bench", action="create"))
        store.exposures.record(
            [ExposureWrite(key, f"user-{u}", u % 2) for u in range(USERS)], now=0.0
        )


def with_retries(call: Callable[[], T], tally: Tally) -> T:
    """Call until Redis answers, backing off as the SDK does (a failed attempt may have counted
    some events: the retry finds them as duplicates)."""
    delay = 0.02
    while True:
        try:
            return call()
        except redis.RedisError:
            with tally.lock:
                tally.failed_attempts += 1
            time.sleep(delay)
            delay = min(delay * 2, RETRY_CAP_S)


def send(url: str, sender: int, stop: threading.Event, tally: Tally) -> None:
    store = Store.from_url(url)
    batch_number = 0
    while not stop.is_set():
        writes = [
            EventWrite(
                EXPERIMENTS[i % len(EXPERIMENTS)],
                f"user-{(batch_number * BATCH + i) % USERS}",
                f"s{sender}-b{batch_number}-e{i}",
                METRIC,
                MetricType.MEAN,
                1.0,
            )
            for i in range(BATCH)
        ]
        outcomes = with_retries(partial(store.events.ingest, writes), tally)
        acknowledged = [
            (w.experiment, w.user_id)
            for w, o in zip(writes, outcomes, strict=True)
            if o in (Outcome.ACCEPTED, Outcome.DUPLICATE)
        ]
        with tally.lock:
            tally.sent += len(writes)
            tally.acknowledged += len(acknowledged)
            tally.per_user.update(acknowledged)
        batch_number += 1
    store.redis.close()


def counted(store: Store) -> Counter[tuple[str, str]]:
    """Each user's stored total of the metric (one per counted event), by (experiment, user)."""
    found: Counter[tuple[str, str]] = Counter()
    for key in EXPERIMENTS:
        for name, total in store.redis.hgetall(keys.user_totals(key)).items():
            metric, _, user = name.partition("|")
            if metric == METRIC:
                found[(key, user)] = round(float(total))
    return found


def counted_in_results(store: Store) -> int:
    """The same events as the results see them: the metric's sum over every variant."""
    total = 0.0
    for key in EXPERIMENTS:
        for arm in store.events.snapshot(key).stats.metrics[METRIC]:
            assert isinstance(arm, Moments)  # a mean metric
            total += arm.total
    return round(total)


def run(url: str, store: Store, seconds: float, kills: int, kill: Callable[[], None]) -> bool:
    define(store)
    tally, stop = Tally(), threading.Event()
    senders = [
        threading.Thread(target=send, args=(url, n, stop, tally), daemon=True)
        for n in range(SENDERS)
    ]
    started = time.monotonic()
    for thread in senders:
        thread.start()
    for number in range(kills):
        time.sleep(seconds / (kills + 1))
        kill()
        print(f"  kill {number + 1} of {kills} done at {time.monotonic() - started:.1f} s")
    time.sleep(seconds / (kills + 1))
    stop.set()
    for thread in senders:
        thread.join(timeout=120)
    found = with_retries(lambda: counted(store), tally)
    in_results = with_retries(lambda: counted_in_results(store), tally)
    users = set(found) | set(tally.per_user)
    lost = sum(max(0, tally.per_user[u] - found[u]) for u in users)
    doubled = sum(max(0, found[u] - tally.per_user[u]) for u in users)
    print(
        f"  sent {tally.sent}, acknowledged {tally.acknowledged}, counted {in_results}, "
        f"lost {lost}, doubled {doubled}, failed attempts retried {tally.failed_attempts}, "
        f"{time.monotonic() - started:.1f} s"
    )
    return lost == doubled == 0 and tally.acknowledged == tally.sent == in_results == sum(
        found.values()
    )


def single(seconds: float, kills: int) -> bool:
    with tempfile.TemporaryDirectory() as data:
        server = EmbeddedRedis(Path(data), persistent=True).start()

        def kill() -> None:
            client = redis.Redis.from_url(server.url)
            pid = int(client.info("server")["process_id"])
            client.close()
            os.kill(pid, signal.SIGKILL)
            server.stop()  # reaps the killed child
            time.sleep(0.5)
            server.start()  # same port, same directory: the AOF is loaded

        store = Store.from_url(server.url)
        try:
            return run(server.url, store, seconds, kills, kill)
        finally:
            store.redis.close()
            server.stop()


def cluster(seconds: float, kills: int) -> bool:
    with tempfile.TemporaryDirectory() as data:
        servers = RedisClusterServers(Path(data), persistent=True).start()

        def kill() -> None:
            master = servers.masters()[0]
            servers.kill(master)
            servers.wait_ok(timeout_s=60)  # the replica took over
            servers.start_node(master)  # rejoins, as a replica of the new master
            servers.wait_ok(timeout_s=60)

        store = Store.from_url(servers.url)
        try:
            return run(servers.url, store, seconds, kills, kill)
        finally:
            store.redis.close()
            servers.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("single", "cluster", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=10.0 if QUICK else 20.0)
    parser.add_argument("--kills", type=int, default=2 if QUICK else 3)
    options = parser.parse_args()
    ok = True
    if options.mode in ("single", "both"):
        print(f"single redis-server, AOF everysec, {options.kills} SIGKILLs and restarts:")
        ok &= single(options.seconds, options.kills)
    if options.mode in ("cluster", "both"):
        print(f"redis cluster, 3 masters + 3 replicas, {options.kills} master SIGKILLs:")
        ok &= cluster(options.seconds, options.kills)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
