"""One hot experiment across the six-node Redis Cluster (three masters): `shards: 16`.

Its shards' keys land on every master, and its results equal those of a one-shard experiment
fed the same exposures and events, to the last digit: every value is an integer or a multiple of
1/4 (dyadic), so every float sum is exact whatever the order the shards add up in. The ingestion
of each experiment is measured per master (printed with `pytest -s`; nothing is timed).
"""

from __future__ import annotations

import time
from typing import Any

import redis

from experiments.store import Store, keys
from experiments.store.events import EventWrite, Outcome
from tests.api.conftest import Api, experiment_body, ok
from tests.cluster.redis_cluster import RedisClusterServers
from tests.store.test_shards import *  # noqa: F403  (the store's shard tests, on the cluster)
from tests.store.test_shards import SHARDS, events, exposures

ONE, WIDE = "one", "wide"
METRICS = [
    {"key": "thumbs_up", "type": "binary", "role": "primary"},
    {"key": "latency_ms", "type": "mean", "role": "guardrail", "quantile": 0.95},
    {"key": "cost_usd", "type": "ratio", "role": "guardrail"},
    {"key": "tokens", "type": "mean", "role": "secondary", "cap": 40},
]


def start(editor: Api, release: Api, key: str, shards: int) -> None:
    body = experiment_body(key, shards=shards, metrics=METRICS)
    ok(editor.post("/api/v1/experiments", json=body))
    ok(release.post(f"/api/v1/experiments/{key}/start", json={}))


def feed(store: Store, key: str, shards: int) -> list[Outcome]:
    """The same users in the same variants, and the same events, whatever the key."""
    assert all(r.recorded_now for r in store.exposures.record(exposures(key, shards), 0.0))
    outcomes: list[Outcome] = []
    writes: list[EventWrite] = events(key, shards)
    for start_at in range(0, len(writes), 500):
        outcomes += store.events.ingest(writes[start_at : start_at + 500])
    return outcomes


def scripts_per_master(cluster: RedisClusterServers) -> dict[int, int]:
    """EVALSHA calls each master has run since its statistics were last reset."""
    calls = {}
    for port in cluster.masters():
        client = redis.Redis(host="127.0.0.1", port=port)
        try:
            evalsha = client.info("commandstats").get("cmdstat_evalsha", {})
            calls[port] = int(evalsha.get("calls", 0))
        finally:
            client.close()
    return calls


def reset_statistics(cluster: RedisClusterServers) -> None:
    for port in cluster.masters():
        client = redis.Redis(host="127.0.0.1", port=port)
        try:
            client.config_resetstat()
        finally:
            client.close()


def test_a_16_shard_experiments_keys_land_on_every_master(
    editor: Api, release: Api, store: Store, redis_cluster: RedisClusterServers
) -> None:
    start(editor, release, WIDE, SHARDS)
    assert set(feed(store, WIDE, SHARDS)) == {Outcome.ACCEPTED}
    nodes: dict[str, set[int]] = {}
    for shard in range(SHARDS):
        for key in (
            keys.exposures(WIDE, shard),
            keys.sufficient_stats(WIDE, shard),
            keys.user_totals(WIDE, shard),
        ):
            assert store.redis.exists(key), key
            nodes.setdefault(store.redis.get_node_from_key(key).name, set()).add(shard)
    assert {int(name.rsplit(":", 1)[1]) for name in nodes} == set(redis_cluster.masters())
    assert len(nodes) == 3


def test_a_16_shard_experiment_has_the_results_of_one_shard_to_the_last_digit(
    editor: Api, release: Api, store: Store
) -> None:
    start(editor, release, ONE, 1)
    start(editor, release, WIDE, SHARDS)
    assert feed(store, ONE, 1) == feed(store, WIDE, SHARDS)
    one = ok(editor.get(f"/api/v1/experiments/{ONE}/results")).get_json()
    wide = ok(editor.get(f"/api/v1/experiments/{WIDE}/results")).get_json()
    assert one["variants"] == {"control": {"users": 200}, "friendly": {"users": 200}}
    assert {k: v for k, v in wide.items() if k != "experiment"} == {
        k: v for k, v in one.items() if k != "experiment"
    }
    assert store.events.snapshot(WIDE).stats == store.events.snapshot(ONE).stats


def test_ingestion_of_a_16_shard_experiment_is_spread_over_the_masters(
    editor: Api, release: Api, store: Store, redis_cluster: RedisClusterServers
) -> None:
    """Measured, not timed: the scripts each master ran for one ingestion, and the rate."""
    measured: dict[str, Any] = {}
    for key, shards in ((ONE, 1), (WIDE, SHARDS)):
        start(editor, release, key, shards)
        store.exposures.record(exposures(key, shards), 0.0)
        writes = events(key, shards)
        reset_statistics(redis_cluster)
        began = time.perf_counter()
        for start_at in range(0, len(writes), 500):
            store.events.ingest(writes[start_at : start_at + 500])
        seconds = time.perf_counter() - began
        measured[key] = (scripts_per_master(redis_cluster), len(writes) / seconds)
    for key, (calls, rate) in measured.items():
        print(f"{key}: {rate:,.0f} events/s; ingest_events scripts per master {calls}")
    one_calls, wide_calls = measured[ONE][0], measured[WIDE][0]
    assert len(one_calls) == len(wide_calls) == 3
    assert sum(1 for calls in one_calls.values() if calls) == 1
    assert all(calls >= 3 for calls in wide_calls.values())  # every master, every batch
