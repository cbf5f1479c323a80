"""An experiment of `shards: N` against the real redis-server: each user's state in its shard.

Values are integers or dyadic fractions (k / 4), so every float sum is exact in any order and a
sharded experiment's figures can be compared with a one-shard experiment's with `==`.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from experiments.model import Experiment, HistoryEntry, MetricType
from experiments.store import Store, keys
from experiments.store.events import EventWrite, Outcome
from experiments.store.exposures import ExposureWrite, exposure_write
from rollout_sdk.kernel.hashing import shard_of

NOW = 1_750_000_000.0
SHARDS = 16
USERS = [f"user-{i}" for i in range(400)]
METRICS = {
    "thumbs_up": MetricType.BINARY,
    "latency_ms": MetricType.MEAN,
    "cost_usd": MetricType.RATIO,
    "tokens": MetricType.MEAN,
}


def define(
    store: Store,
    key: str,
    shards: int,
    more_metrics: tuple[dict[str, Any], ...] = (),
    **fields: Any,
) -> Experiment:
    experiment = Experiment.model_validate(
        {
            "key": key,
            "name": key,
            "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
            "control": "control",
            "metrics": [
                {"key": "thumbs_up", "type": "binary", "role": "primary"},
                {"key": "latency_ms", "type": "mean", "role": "guardrail", "quantile": 0.95},
                {"key": "cost_usd", "type": "ratio", "role": "guardrail"},
                {"key": "tokens", "type": "mean", "role": "secondary", "cap": 40},
                *more_metrics,
            ],
            "status": "running",
            "shards": shards,
            **fields,
        }
    )
    return store.experiments.create(experiment, HistoryEntry(at=NOW, actor="test", action="create"))


def exposures(key: str, shards: int) -> list[ExposureWrite]:
    return [ExposureWrite(key, user, i % 2, shards) for i, user in enumerate(USERS)]


def events(key: str, shards: int, seed: int = 7) -> list[EventWrite]:
    """The same events for any experiment key: dyadic values, some users without events."""
    rng = random.Random(seed)
    writes = []
    for n in range(1500):
        user = rng.choice(USERS[:350])
        metric = rng.choice(list(METRICS))
        value = rng.randint(-4, 60) / 4 if metric != "thumbs_up" else rng.randint(0, 1)
        denominator = rng.randint(1, 8) / 4 if metric == "cost_usd" else 1.0
        writes.append(
            EventWrite(
                key,
                user,
                f"event-{n}",
                metric,
                METRICS[metric],
                value,
                denominator,
                cap=40.0 if metric == "tokens" else None,
                sketched=metric == "latency_ms",
                shards=shards,
            )
        )
    return writes


def ingest_in_batches(store: Store, writes: list[EventWrite]) -> list[Outcome]:
    outcomes = []
    for start in range(0, len(writes), 500):
        outcomes += store.events.ingest(writes[start : start + 500], now=NOW)
    return outcomes


def test_one_shard_keeps_todays_key_strings() -> None:
    assert keys.exposures("tone") == keys.exposures("tone", 0) == "rollout:{exp:tone}:exposures"
    assert keys.sufficient_stats("tone", 0) == "rollout:{exp:tone}:stats"
    assert keys.user_totals("tone", 0) == "rollout:{exp:tone}:totals"
    assert keys.event_seen("tone", "e1", 0) == "rollout:{exp:tone}:seen:e1"
    assert keys.event_ids_counted("tone", 450, 0) == "rollout:{exp:tone}:counted:450:"


def test_a_later_shard_has_a_hash_tag_of_its_own() -> None:
    assert keys.exposures("tone", 3) == "rollout:{exp:tone/s3}:exposures"
    assert keys.sufficient_stats("tone", 3) == "rollout:{exp:tone/s3}:stats"
    assert keys.user_totals("tone", 3) == "rollout:{exp:tone/s3}:totals"
    assert keys.event_seen("tone", "e1", 3) == "rollout:{exp:tone/s3}:seen:e1"
    assert keys.event_ids_counted("tone", 450, 3) == "rollout:{exp:tone/s3}:counted:450:"


def test_a_one_shard_experiment_writes_only_the_keys_of_before(store: Store) -> None:
    define(store, "tone", 1)
    store.exposures.record(exposures("tone", 1), NOW)
    assert set(ingest_in_batches(store, events("tone", 1))) == {Outcome.ACCEPTED}
    written = set(store.redis.scan_iter(match="rollout:{exp:*"))
    bucket = keys.event_ids_counted("tone", 7 * 86400 // 8)
    assert {k for k in written if not k.startswith(bucket)} == {
        keys.experiment("tone"),
        keys.experiment_history("tone"),
        "rollout:{exp:tone}:exposures",
        "rollout:{exp:tone}:stats",
        "rollout:{exp:tone}:totals",
    }
    assert any(k.startswith("rollout:{exp:tone}:counted:") for k in written)


def test_users_spread_over_every_shard_each_in_the_shard_the_hash_gives(store: Store) -> None:
    define(store, "wide", SHARDS)
    records = store.exposures.record(exposures("wide", SHARDS), NOW)
    assert all(r.recorded_now for r in records)
    per_shard = Counter(shard_of(user, "wide", SHARDS) for user in USERS)
    assert set(per_shard) == set(range(SHARDS))
    for shard in range(SHARDS):
        assert store.redis.hlen(keys.exposures("wide", shard)) == per_shard[shard]
    user = USERS[5]
    assert store.redis.hexists(keys.exposures("wide", shard_of(user, "wide", SHARDS)), user)
    assert store.exposures.variant_of("wide", user, SHARDS) == 1
    assert store.exposures.variant_of("wide", "nobody", SHARDS) is None


def test_an_exposure_recorded_twice_keeps_the_first_variant_in_its_shard(store: Store) -> None:
    define(store, "wide", SHARDS)
    store.exposures.record([ExposureWrite("wide", "u1", 0, SHARDS)], NOW)
    (again,) = store.exposures.record([ExposureWrite("wide", "u1", 1, SHARDS)], NOW + 5)
    assert (again.variant_index, again.recorded_now) == (0, False)


def test_a_sharded_experiment_gives_the_results_of_one_shard_fed_the_same_events(
    store: Store,
) -> None:
    define(store, "one", 1)
    define(store, "wide", SHARDS)
    store.exposures.record(exposures("one", 1), NOW)
    store.exposures.record(exposures("wide", SHARDS), NOW)
    one_outcomes = ingest_in_batches(store, events("one", 1))
    wide_outcomes = ingest_in_batches(store, events("wide", SHARDS))
    assert one_outcomes == wide_outcomes
    assert one_outcomes.count(Outcome.ACCEPTED) == 1500
    one_stats = store.events.snapshot("one").stats
    wide_stats = store.events.snapshot("wide").stats
    assert one_stats.users == (200, 200)
    assert wide_stats == one_stats
    assert sum(c for _, c in wide_stats.sketches["latency_ms"][0].buckets) > 0


def test_a_retried_batch_counts_once_in_a_sharded_experiment(store: Store) -> None:
    define(store, "wide", SHARDS)
    store.exposures.record(exposures("wide", SHARDS), NOW)
    batch = events("wide", SHARDS)[:500]
    assert set(store.events.ingest(batch, now=NOW)) == {Outcome.ACCEPTED}
    before = store.events.snapshot("wide").stats
    assert set(store.events.ingest(batch, now=NOW + 60)) == {Outcome.DUPLICATE}
    assert set(store.events.ingest(list(reversed(batch)), now=NOW + 120)) == {Outcome.DUPLICATE}
    assert store.events.snapshot("wide").stats == before


def test_an_event_of_a_user_not_exposed_in_a_sharded_experiment_is_refused(store: Store) -> None:
    define(store, "wide", SHARDS)
    store.exposures.record([ExposureWrite("wide", "u1", 0, SHARDS)], NOW)
    write = EventWrite("wide", "u2", "e1", "latency_ms", MetricType.MEAN, 2.0, shards=SHARDS)
    assert store.events.ingest([write], now=NOW) == [Outcome.NOT_EXPOSED]


@pytest.mark.parametrize("shards", [0, 65])
def test_a_shard_count_out_of_bounds_is_refused(shards: int) -> None:
    with pytest.raises(ValueError, match="shards"):
        Experiment.model_validate(
            {
                "key": "k",
                "name": "k",
                "variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}],
                "control": "a",
                "shards": shards,
            }
        )


def test_a_stored_experiment_without_shards_reads_as_one_shard(store: Store) -> None:
    experiment = define(store, "tone", 1)
    stored = experiment.model_dump(mode="json", exclude={"shards"})
    assert "shards" not in stored
    assert Experiment.model_validate(stored).shards == 1


def test_segments_and_covariates_of_a_sharded_experiment_add_up_as_one_shards(
    store: Store,
) -> None:
    segments = [{"attribute": "country", "values": ["DE", "FR"]}]
    spend = {"key": "spend", "type": "mean", "role": "secondary", "covariate": "requests"}
    countries = ["DE", "FR", "US"]
    for key, shards in (("one", 1), ("wide", SHARDS)):
        experiment = define(store, key, shards, (spend,), segments=segments)
        writes = [
            exposure_write(
                experiment, user, i % 2, {"country": countries[i % 3]}, {"requests": i % 5}
            )
            for i, user in enumerate(USERS)
        ]
        assert all(r.recorded_now for r in store.exposures.record(writes, NOW))
        events = [
            EventWrite(
                key, user, f"s{i}", "spend", MetricType.MEAN, i % 9 / 4, covariate=0, shards=shards
            )
            for i, user in enumerate(USERS[:300])
        ]
        assert set(store.events.ingest(events, now=NOW)) == {Outcome.ACCEPTED}
    one, wide = store.events.snapshot("one").stats, store.events.snapshot("wide").stats
    assert [cell.users for cell in one.segments[0]] == [(67, 67), (66, 67), (67, 66)]
    assert one.covariates["spend"][0].sum_xy > 0
    assert wide == one
