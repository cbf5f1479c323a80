"""One experiment on a local 3-master Redis Cluster: 1 shard against 16, and what each core takes.

Two experiments of the same definition, one of `shards: 1` (today's layout: every key on one
master) and one of `shards: 16` (its users' state over 16 hash tags, so over all three masters),
take the same work through the store, in alternating rounds from --clients threads (each a store
of its own, as gunicorn's threads): first exposures of fresh users (`Store.exposures.record`,
batches of 1000), then events (`Store.events.ingest`, batches of 1000, fresh ids each round).
Each master's own INFO gives the CPU seconds it spent (used_cpu_user + used_cpu_sys, its share
of replication included) and the scripts it ran. Printed, all from one run:

- writes/s for each layout and the ratio 16/1 (client, six Redis nodes and replication share
  this machine's cores, so neither rate is a cluster's ceiling);
- writes per CPU-second of a master: what one Redis core takes (docs/scaling.md), and the
  ceiling of one experiment, the writes per CPU-second of its busiest master: one shard can
  never pass one core; 16 shards over 3 masters share the work out (by slot, not evenly);
- the memory per exposed user (used_memory summed over the masters);
- with --http-seconds > 0: POST /api/v1/exposures and /api/v1/events (batches of 1000, 4 client
  threads) under gunicorn (2 workers x 4 threads) on the cluster, into the 16-shard experiment,
  as items/s and items per gunicorn CPU-second (the workers' /proc times).

The cluster (six redis-server processes, tests/cluster/redis_cluster.py) starts in a temporary
directory and is stopped at the end, gunicorn too.

    .venv/bin/python bench/sharded_ingest.py [--events 100000] [--users 20000] [--clients 4]
        [--http-seconds 8]

ROLLOUT_BENCH_QUICK=1 (set by bench/run_all.py) sends 30,000 events a round, HTTP for 4 s.
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
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the cluster helper lives with the cluster test suite
from experiments.model import Experiment, HistoryEntry, MetricType  # noqa: E402
from experiments.sdk_document import assignment_spec  # noqa: E402
from experiments.store import Store  # noqa: E402
from experiments.store.events import EventWrite, Outcome  # noqa: E402
from experiments.store.exposures import ExposureWrite  # noqa: E402
from rollout.embedded import free_port  # noqa: E402
from rollout_sdk.kernel.assignment import assign, compile_experiment  # noqa: E402
from tests.cluster.redis_cluster import RedisClusterServers  # noqa: E402

QUICK = os.environ.get("ROLLOUT_BENCH_QUICK") == "1"
BATCH = 1000
WINDOW_S = 7 * 86400
METRICS = {"thumbs_up": MetricType.BINARY, "latency_ms": MetricType.MEAN, "cost": MetricType.RATIO}
LAYOUTS = {"one": 1, "wide": 16}
ADMIN_KEY = "rk_bench-admin-0123456789abcdef0123456789abcdef"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Raw = tuple[str, str, float]  # user, metric, value


@dataclass(frozen=True)
class Round:
    per_s: float
    cpu_s: dict[int, float]
    scripts: dict[int, int]


def definition(key: str, shards: int) -> Experiment:
    return Experiment.model_validate(
        {
            "key": key,
            "name": f"Ingestion over {shards} shard(s)",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "b", "weight": 0.5}],
            "control": "control",
            "metrics": [{"key": k, "type": t.value} for k, t in METRICS.items()],
            "status": "running",
            "shards": shards,
        }
    )


def raw_events(count: int, users: list[str], seed: int) -> list[Raw]:
    rng = random.Random(seed)
    metrics = list(METRICS)
    return [
        (rng.choice(users), rng.choice(metrics), rng.randrange(1000) / 10) for _ in range(count)
    ]


def cpu_seconds(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def scripts_run(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


def threaded(count: int, work: Callable[[int], int]) -> float:
    """Run work(0..count-1) on `count` threads; answers the items they did a second."""
    done = [0] * count

    def run(index: int) -> None:
        done[index] = work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


def ingest(stores: list[Store], key: str, events: list[Raw], run: str) -> float:
    """Events a second, the batches shared out over one thread per store."""
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]

    def client(index: int) -> int:
        counted = 0
        for number in range(index, len(batches), len(stores)):
            writes = [
                EventWrite(key, user, f"{run}-{number}-{j}", metric, METRICS[metric], value,
                           shards=LAYOUTS[key])
                for j, (user, metric, value) in enumerate(batches[number])
            ]
            counted += stores[index].events.ingest(writes, WINDOW_S).count(Outcome.ACCEPTED)
        return counted

    return threaded(len(stores), client)


def expose(stores: list[Store], key: str, users: list[str], variant_of: dict[str, int]) -> float:
    """First exposures a second, the batches shared out over one thread per store."""
    batches = [users[i : i + BATCH] for i in range(0, len(users), BATCH)]

    def client(index: int) -> int:
        recorded = 0
        for number in range(index, len(batches), len(stores)):
            writes = [ExposureWrite(key, u, variant_of[u], LAYOUTS[key]) for u in batches[number]]
            records = stores[index].exposures.record(writes, 0.0)
            recorded += sum(r.recorded_now for r in records)
        return recorded

    return threaded(len(stores), client)


def measured(masters: dict[int, redis.Redis], work: Callable[[], float]) -> Round:
    cpu_before = {port: cpu_seconds(c) for port, c in masters.items()}
    scripts_before = {port: scripts_run(c) for port, c in masters.items()}
    rate = work()
    return Round(
        rate,
        {port: cpu_seconds(c) - cpu_before[port] for port, c in masters.items()},
        {port: scripts_run(c) - scripts_before[port] for port, c in masters.items()},
    )


def used_memory(masters: dict[int, redis.Redis]) -> int:
    return sum(int(c.info("memory")["used_memory"]) for c in masters.values())


def report(name: str, rounds: list[Round], items: int, unit: str) -> tuple[float, float]:
    """Print a layout's figures; answers its rate and its ceiling (per busiest-master CPU-s)."""
    rate = statistics.median(r.per_s for r in rounds)
    ports = sorted(rounds[0].cpu_s)
    cpu = {port: statistics.median(r.cpu_s[port] for r in rounds) for port in ports}
    busiest = max(cpu.values())
    print(f"  {name:<10} {rate:>9,.0f} {unit}/s   master CPU s a round "
          + " ".join(f"{cpu[p]:.2f}" for p in ports)
          + "   scripts a round " + " ".join(str(rounds[-1].scripts[p]) for p in ports))
    print(f"  {'':<10} {items / sum(cpu.values()):>9,.0f} {unit} per master CPU-second;"
          f" the busiest master did {busiest / sum(cpu.values()):.0%}: ceiling"
          f" {items / busiest:,.0f} {unit}/s")
    return rate, items / busiest


def compare(title: str, rounds: dict[str, list[Round]], items: int, unit: str) -> None:
    print(title)
    one_rate, one_ceiling = report("1 shard", rounds["one"], items, unit)
    wide_rate, wide_ceiling = report("16 shards", rounds["wide"], items, unit)
    print(f"  ratio 16 shards / 1 shard: {wide_rate / one_rate:.2f} in {unit}/s here,"
          f" {wide_ceiling / one_ceiling:.2f} in the one-experiment ceiling")


def process_cpu_seconds(root_pid: int) -> float:
    """CPU seconds of a process and its children so far (from /proc; Linux)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        if pid == root_pid or ppid == root_pid:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def run_http(url: str, store: Store, seconds: float, users: int) -> None:
    """POST /api/v1/exposures of `users` fresh users, then /api/v1/events of theirs for at most
    `seconds`, into the 16-shard experiment under gunicorn."""
    port = free_port()
    env = dict(os.environ, REDIS_URL=url, ROLLOUT_ADMIN_KEY=ADMIN_KEY, PORT=str(port),
               HOST="127.0.0.1", WEB_CONCURRENCY="2", GUNICORN_THREADS="4", LOG_LEVEL="warning")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
         "rollout.app:create_app()"], env=env, cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        created = requests.post(f"{base}/api/v1/keys", json={"name": "bench-sdk", "role": "sdk"},
                                headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
        created.raise_for_status()
        headers = {"Authorization": f"Bearer {created.json()['secret']}",
                   "Content-Type": "application/json"}
        compiled = compile_experiment(assignment_spec(store.experiments.get("wide")))
        fresh = [f"http-user-{i:08d}" for i in range(users)]
        exposures = [
            json.dumps({"exposures": [
                {"user_id": u, "experiment": "wide", "variant": assign(compiled, u, None).variant}
                for u in fresh[i : i + BATCH]
            ]})
            for i in range(0, len(fresh), BATCH)
        ]
        rng = random.Random(4)
        events = [
            json.dumps({"events": [
                {"event_id": f"http-{i}-{j}", "user_id": rng.choice(fresh), "experiment": "wide",
                 "metric": "latency_ms", "value": rng.randrange(1000) / 10}
                for j in range(BATCH)
            ]})
            for i in range(int(seconds * 20))
        ]
        print(f"HTTP under gunicorn (2 workers x 4 threads), 4 client threads, the 16-shard"
              f" experiment: {users:,} first exposures, then events for {seconds:.0f} s:")
        for route, bodies, limit in (("exposures", exposures, 600.0), ("events", events, seconds)):
            before = process_cpu_seconds(server.pid)
            started = time.perf_counter()
            rate = post_all(f"{base}/api/v1/{route}", bodies, headers, limit)
            elapsed = time.perf_counter() - started
            cpu = process_cpu_seconds(server.pid) - before
            print(f"  POST /api/v1/{route:<9} {rate:>9,.0f} {route}/s;"
                  f" {rate * elapsed / cpu:>9,.0f} {route} per gunicorn CPU-second")
    finally:
        server.terminate()
        server.wait(timeout=20)


def post_all(url: str, bodies: list[str], headers: dict[str, str], seconds: float) -> float:
    """Accepted items a second, every body posted once (or until `seconds` have passed)."""
    cursor = iter(range(len(bodies)))
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(_: int) -> int:
        session = requests.Session()
        counted = 0
        while time.perf_counter() < deadline:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            answer = session.post(url, data=bodies[index], headers=headers, timeout=60)
            answer.raise_for_status()
            counted += int(answer.json()["accepted"])
        return counted

    return threaded(4, client)


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
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
    parser.add_argument("--events", type=int, default=30_000 if QUICK else 100_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2 if QUICK else 3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--http-seconds", type=float, default=4.0 if QUICK else 8.0)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        cluster = RedisClusterServers(Path(directory)).start()
        masters = {port: redis.Redis(host="127.0.0.1", port=port) for port in cluster.masters()}
        try:
            stores = [Store.from_url(cluster.url) for _ in range(options.clients)]
            for key, shards in LAYOUTS.items():
                stores[0].experiments.create(
                    definition(key, shards), HistoryEntry(at=0.0, actor="bench", action="create")
                )
            rng = random.Random(1)
            warm = [f"warm-{i}" for i in range(BATCH)]
            for key in LAYOUTS:  # every script loaded on every master before measuring
                expose(stores, key, warm, {u: 0 for u in warm})
                ingest(stores, key, raw_events(BATCH, warm, seed=0), "warm")
            exposure_rounds: dict[str, list[Round]] = {key: [] for key in LAYOUTS}
            memory: dict[str, list[float]] = {key: [] for key in LAYOUTS}
            users: list[str] = []
            for number in range(options.rounds):
                users = [f"user-{number}-{i:07d}" for i in range(options.users)]
                variant_of = {u: rng.randrange(2) for u in users}
                for key in LAYOUTS:
                    before = used_memory(masters)
                    work = partial(expose, stores, key, users, variant_of)
                    exposure_rounds[key].append(measured(masters, work))
                    memory[key].append((used_memory(masters) - before) / options.users)
            events = raw_events(options.events, users, seed=2)
            event_rounds: dict[str, list[Round]] = {key: [] for key in LAYOUTS}
            for number in range(options.rounds):
                for key in LAYOUTS:
                    work = partial(ingest, stores, key, events, f"r{number}")
                    event_rounds[key].append(measured(masters, work))
            print(f"3 masters (+3 replicas) on {os.cpu_count()} cores shared with the client,"
                  f" {options.clients} client threads, batches of {BATCH}, median of"
                  f" {options.rounds} rounds")
            compare(f"first exposures, {options.users:,} fresh users a round:", exposure_rounds,
                    options.users, "exposures")
            compare(f"events, {options.events:,} a round over the last round's users:",
                    event_rounds, options.events, "events")
            for key, shards in LAYOUTS.items():
                print(f"  memory per exposed user, {shards:>2} shard(s):"
                      f" {statistics.median(memory[key]):,.0f} B (used_memory over the masters)")
            if options.http_seconds > 0:
                run_http(cluster.url, stores[0], options.http_seconds, options.users)
        finally:
            for client in masters.values():
                client.close()
            cluster.stop()


if __name__ == "__main__":
    main()
