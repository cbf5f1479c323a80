"""Event ingestion and the results snapshot against the real redis-server."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.errors import NotFound
from experiments.model import Experiment, HistoryEntry, MetricType
from experiments.stats.moments import Moments, RatioMoments
from experiments.store import Store, keys
from experiments.store.events import EventWrite, Outcome
from experiments.store.exposures import ExposureWrite

EXP = "tone"
NOW = 1_750_000_000.0


def define(store: Store, key: str = EXP) -> Experiment:
    experiment = Experiment.model_validate(
        {
            "key": key,
            "name": "Tone",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "friendly", "weight": 0.5}],
            "control": "control",
            "metrics": [
                {"key": "thumbs_up", "type": "binary", "role": "primary"},
                {"key": "latency_ms", "type": "mean", "role": "guardrail"},
                {"key": "cost_usd", "type": "ratio", "role": "guardrail"},
            ],
            "status": "running",
        }
    )
    return store.experiments.create(experiment, HistoryEntry(at=NOW, actor="test", action="create"))


def expose(store: Store, users: dict[str, int], experiment: str = EXP) -> None:
    store.exposures.record([ExposureWrite(experiment, u, v) for u, v in users.items()], NOW)


def mean_event(event_id: str, user: str, value: float, experiment: str = EXP) -> EventWrite:
    return EventWrite(experiment, user, event_id, "latency_ms", MetricType.MEAN, value)


def binary_event(event_id: str, user: str, value: float) -> EventWrite:
    return EventWrite(EXP, user, event_id, "thumbs_up", MetricType.BINARY, value)


def ratio_event(event_id: str, user: str, value: float, denominator: float = 1.0) -> EventWrite:
    return EventWrite(EXP, user, event_id, "cost_usd", MetricType.RATIO, value, denominator)


def test_mean_metric_keeps_sums_and_squares_of_per_user_totals(store: Store) -> None:
    define(store)
    expose(store, {"a": 0, "b": 0, "c": 0, "d": 1})
    store.events.ingest(
        [mean_event("1", "a", 2.5), mean_event("2", "a", 1.5), mean_event("3", "b", 7.0)]
    )
    store.events.ingest([mean_event("4", "a", -1.0), mean_event("5", "d", 3.25)])
    stats = store.events.snapshot(EXP).stats
    # Per user: a = 3.0, b = 7.0, c = 0 (exposed, no events) | d = 3.25
    assert stats.metrics["latency_ms"] == (Moments(3, 10.0, 9.0 + 49.0), Moments(1, 3.25, 3.25**2))


def test_binary_metric_counts_a_user_with_several_successes_once(store: Store) -> None:
    define(store)
    expose(store, {"a": 1, "b": 1, "c": 1})
    store.events.ingest(
        [binary_event("1", "a", 1), binary_event("2", "a", 3), binary_event("3", "b", 0)]
    )
    store.events.ingest([binary_event("4", "a", 1), binary_event("5", "c", -2)])
    assert store.events.snapshot(EXP).stats.metrics["thumbs_up"][1] == Moments(3, 1.0, 1.0)


def test_ratio_metric_keeps_cross_products_of_per_user_sums(store: Store) -> None:
    define(store)
    expose(store, {"a": 0, "b": 0, "c": 0})
    store.events.ingest(
        [ratio_event("1", "a", 0.5, 2.0), ratio_event("2", "a", 1.5), ratio_event("3", "b", 4.0)]
    )
    # a: x = 2.0, y = 3.0; b: x = 4.0, y = 1.0 (the default denominator); c: 0, 0
    x, y = np.array([2.0, 4.0, 0.0]), np.array([3.0, 1.0, 0.0])
    expected = RatioMoments(3, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum())
    assert store.events.snapshot(EXP).stats.metrics["cost_usd"][0] == expected


def test_sums_keep_full_precision_for_tiny_values(store: Store) -> None:
    """Sums are kept as 17 significant digits, not as HINCRBYFLOAT's fixed decimals."""
    define(store)
    expose(store, {"a": 0, "b": 0})
    store.events.ingest([mean_event("1", "a", 3e-9), mean_event("2", "b", 1.25e-9)])
    moments = store.events.snapshot(EXP).stats.metrics["latency_ms"][0]
    assert isinstance(moments, Moments)
    assert moments.total == pytest.approx(4.25e-9, rel=1e-15)
    assert moments.total_sq == pytest.approx(9e-18 + 1.5625e-18, rel=1e-15)


def test_sums_carried_between_calls_lose_no_bit(store: Store) -> None:
    """Each call reads the stored sums back as the very doubles it wrote."""
    define(store)
    expose(store, {"a": 0})
    values = [0.1, 0.2, 1 / 3, 1e-7, 12345.678901234567]
    total = total_sq = 0.0
    for i, value in enumerate(values):
        store.events.ingest([mean_event(str(i), "a", value)])
        total_sq += value * (2 * total + value)
        total += value
    assert store.events.snapshot(EXP).stats.metrics["latency_ms"][0] == Moments(1, total, total_sq)


def test_an_event_id_sent_twice_in_one_batch_counts_once(store: Store) -> None:
    define(store)
    expose(store, {"a": 0})
    outcomes = store.events.ingest([mean_event("1", "a", 2.0), mean_event("1", "a", 2.0)])
    assert outcomes == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert store.events.snapshot(EXP).stats.metrics["latency_ms"][0] == Moments(1, 2.0, 4.0)


def test_an_event_id_resent_in_a_later_batch_counts_once(store: Store) -> None:
    define(store)
    expose(store, {"a": 0})
    assert store.events.ingest([mean_event("1", "a", 2.0)]) == [Outcome.ACCEPTED]
    assert store.events.ingest([mean_event("1", "a", 2.0), mean_event("2", "a", 1.0)]) == [
        Outcome.DUPLICATE,
        Outcome.ACCEPTED,
    ]
    assert store.events.snapshot(EXP).stats.metrics["latency_ms"][0] == Moments(1, 3.0, 9.0)


T0 = 1_764_000_000  # a second at the start of a bucket of any width used below


@pytest.mark.parametrize("counted_at", [T0, T0 + 449, T0 + 450, T0 + 899])
def test_an_event_id_is_a_duplicate_for_exactly_the_dedupe_window(
    store: Store, counted_at: int
) -> None:
    # A window of 3600 s: buckets of 450 s; ids counted at a bucket's first and last second.
    define(store)
    expose(store, {"a": 0})
    assert store.events.ingest([mean_event("1", "a", 2.0)], 3600, now=counted_at) == [
        Outcome.ACCEPTED
    ]
    last_second = counted_at + 3599
    assert store.events.ingest([mean_event("1", "a", 2.0)], 3600, now=last_second) == [
        Outcome.DUPLICATE
    ]
    assert store.events.ingest([mean_event("1", "a", 2.0)], 3600, now=last_second + 1) == [
        Outcome.ACCEPTED
    ]
    assert store.events.ingest([mean_event("1", "a", 2.0)], 3600, now=last_second + 2) == [
        Outcome.DUPLICATE
    ]


def test_an_id_counted_again_after_the_window_is_remembered_from_then(store: Store) -> None:
    define(store)
    expose(store, {"a": 0})
    for now, outcome in [
        (T0, Outcome.ACCEPTED),
        (T0 + 100, Outcome.ACCEPTED),
        (T0 + 199, Outcome.DUPLICATE),
        (T0 + 200, Outcome.ACCEPTED),
    ]:
        assert store.events.ingest([mean_event("1", "a", 2.0)], 100, now=now) == [outcome]


def test_a_bucket_expires_once_none_of_its_ids_can_count(store: Store) -> None:
    define(store)
    expose(store, {"a": 0})
    store.events.ingest([mean_event("1", "a", 2.0)], 3600, now=T0 + 10)
    bucket = keys.event_ids_counted(EXP, 450) + f"{T0 // 450}:0"  # a first bucket: one shard
    assert store.redis.hget(bucket, "1") == "10"  # the second it was counted, from T0
    # The bucket starts at T0 and ends at T0 + 450; its last id counts until T0 + 450 + 3600.
    assert 4030 <= store.redis.ttl(bucket) <= 4040
    assert not store.redis.exists(keys.event_seen(EXP, "1"))


def test_an_id_marked_by_its_own_key_before_buckets_stays_a_duplicate(store: Store) -> None:
    define(store)
    expose(store, {"a": 0})
    store.redis.set(keys.event_seen(EXP, "before"), "1", ex=3600)
    outcomes = store.events.ingest([mean_event("before", "a", 2.0), mean_event("new", "a", 1.0)])
    assert outcomes == [Outcome.DUPLICATE, Outcome.ACCEPTED]


def test_dedupe_is_scoped_to_the_experiment(store: Store) -> None:
    define(store)
    define(store, "other")
    expose(store, {"a": 0})
    expose(store, {"a": 1}, experiment="other")
    outcomes = store.events.ingest(
        [mean_event("same-id", "a", 2.0), mean_event("same-id", "a", 5.0, experiment="other")]
    )
    assert outcomes == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert store.events.snapshot("other").stats.metrics["latency_ms"][1] == Moments(1, 5.0, 25.0)


def test_an_event_of_an_unexposed_user_is_refused_and_keeps_its_id_for_a_retry(
    store: Store,
) -> None:
    define(store)
    assert store.events.ingest([mean_event("1", "late", 4.0)]) == [Outcome.NOT_EXPOSED]
    assert store.redis.exists(keys.event_seen(EXP, "1")) == 0
    expose(store, {"late": 1})
    assert store.events.ingest([mean_event("1", "late", 4.0)]) == [Outcome.ACCEPTED]
    assert store.events.snapshot(EXP).stats.metrics["latency_ms"][1] == Moments(1, 4.0, 16.0)


def test_outcomes_follow_the_order_of_a_batch_spanning_experiments(store: Store) -> None:
    define(store)
    define(store, "other")
    expose(store, {"a": 0})
    expose(store, {"b": 0}, experiment="other")
    outcomes = store.events.ingest(
        [
            mean_event("1", "b", 1.0, experiment="other"),
            mean_event("1", "a", 1.0),
            mean_event("2", "b", 1.0),
            mean_event("1", "b", 1.0, experiment="other"),
        ]
    )
    assert outcomes == [
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
        Outcome.NOT_EXPOSED,
        Outcome.DUPLICATE,
    ]


def test_a_batch_larger_than_one_lua_unpack_is_written_whole(store: Store) -> None:
    define(store)
    users = {f"u{i}": i % 2 for i in range(1500)}
    expose(store, users)
    writes = [mean_event(f"e{i}", f"u{i}", float(i)) for i in range(1500)]
    assert set(store.events.ingest(writes)) == {Outcome.ACCEPTED}
    control, treatment = store.events.snapshot(EXP).stats.metrics["latency_ms"]
    evens, odds = np.arange(0, 1500, 2.0), np.arange(1, 1500, 2.0)
    assert control == Moments(750, evens.sum(), (evens**2).sum())
    assert treatment == Moments(750, odds.sum(), (odds**2).sum())


def test_snapshot_counts_exposed_users_without_events_as_zero(store: Store) -> None:
    define(store)
    expose(store, {"a": 0, "b": 1, "c": 1})
    snapshot = store.events.snapshot(EXP)
    assert snapshot.experiment.key == EXP
    assert snapshot.stats.users == (1, 2)
    assert snapshot.stats.metrics["thumbs_up"] == (Moments(1, 0.0, 0.0), Moments(2, 0.0, 0.0))
    assert snapshot.stats.metrics["cost_usd"][1] == RatioMoments(2, 0.0, 0.0, 0.0, 0.0, 0.0)


def test_snapshot_of_an_unknown_experiment_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.events.snapshot("missing")


def test_snapshot_reads_two_keys_whatever_the_number_of_users(store: Store) -> None:
    define(store)
    expose(store, {f"u{i}": i % 2 for i in range(1000)})
    store.events.ingest([mean_event(f"e{i}", f"u{i}", 1.0) for i in range(1000)])
    before = _commands_processed(store)
    store.events.snapshot(EXP)
    # GET of the definition and HGETALL of the sums, plus the INFO that measures them.
    assert _commands_processed(store) - before == 3


def _commands_processed(store: Store) -> int:
    return int(store.redis.info("stats")["total_commands_processed"])


def test_a_bucket_after_a_busy_one_is_sharded_compactly_and_still_dedupes(store: Store) -> None:
    # A window of 80 s: buckets of 10 s. The first bucket has one shard (nothing came before);
    # the next is split for the 1000 ids of the first, each shard small enough for a ziplist.
    define(store)
    expose(store, {"a": 0})
    first = [mean_event(f"first-{i}", "a", 1.0) for i in range(1000)]
    second = [mean_event(f"second-{i}", "a", 1.0) for i in range(1000)]
    assert set(store.events.ingest(first, 80, now=T0)) == {Outcome.ACCEPTED}
    assert set(store.events.ingest(second, 80, now=T0 + 10)) == {Outcome.ACCEPTED}
    assert set(store.events.ingest(first + second, 80, now=T0 + 15)) == {Outcome.DUPLICATE}
    bucket = keys.event_ids_counted(EXP, 10) + f"{T0 // 10 + 1}:"
    shards = [bucket + str(shard) for shard in range(16)]
    assert store.redis.exists(*shards) == 16 and not store.redis.exists(bucket + "16")
    encodings = {store.redis.object("encoding", shard) for shard in shards}
    assert encodings in ({"ziplist"}, {"listpack"})  # Redis 6 and 7 names of the compact one
    assert sum(store.redis.hlen(shard) for shard in shards) == 1000
