"""Per-segment sums in Redis, against numpy on the users of each segment.

The segment of a user is the one of the first exposure; every event's change is added to the
sums of the user's segment in each dimension, so each dimension's segments add up to the whole.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from experiments.model import Experiment, HistoryEntry
from experiments.stats.moments import Moments, RatioMoments
from experiments.stats.segments import segment_cells
from experiments.store import Store, keys
from experiments.store.connection import Redis
from experiments.store.events import EventWrite, Outcome
from experiments.store.exposures import ExposureWrite

EXP = "segmented"
NOW = 1_750_000_000.0
MODELS = ["gpt-4o", "claude", "llama"]


def define(store: Store, shards: int = 1) -> Experiment:
    experiment = Experiment.model_validate(
        {
            "key": EXP,
            "name": "Segmented",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "new", "weight": 0.5}],
            "control": "control",
            "metrics": [
                {"key": "latency_ms", "type": "mean", "role": "guardrail", "cap": 5000.0},
                {"key": "error", "type": "binary", "role": "guardrail"},
                {"key": "cost", "type": "ratio"},
            ],
            "segments": [
                {"attribute": "model", "values": ["gpt-4o", "claude"]},
                {"attribute": "plan", "values": ["free", "pro"]},
            ],
            "status": "running",
            "shards": shards,
        }
    )
    return store.experiments.create(experiment, HistoryEntry(at=NOW, actor="test", action="create"))


def expose(
    store: Store, experiment: Experiment, user: str, variant: int, attributes: dict[str, Any]
) -> bool:
    cells = segment_cells(experiment.segments, attributes)
    (record,) = store.exposures.record(
        [ExposureWrite(EXP, user, variant, experiment.shards, cells)], NOW
    )
    assert record.variant_index == variant or not record.recorded_now
    return record.recorded_now


def event(
    experiment: Experiment, user: str, i: int, metric: str, value: float, denominator: float = 1.0
) -> EventWrite:
    m = experiment.metric(metric)
    assert m is not None
    return EventWrite(
        EXP, user, f"{metric}-{user}-{i}", metric, m.type, value, denominator, cap=m.cap,
        shards=experiment.shards,
    )


@pytest.mark.parametrize("shards", [1, 4])
def test_each_segments_sums_are_numpys_over_its_users(store: Store, shards: int) -> None:
    experiment = define(store, shards)
    rng = np.random.default_rng(15)
    n = 240
    models = [MODELS[int(i)] for i in rng.integers(0, 3, n)]  # llama is undeclared: other
    plans = [(None, "free", "pro")[int(i)] for i in rng.integers(0, 3, n)]
    variants = rng.integers(0, 2, n)
    users = [f"u{i}" for i in range(n)]
    for u, model, plan, v in zip(users, models, plans, variants, strict=True):
        attributes = {"model": model} | ({} if plan is None else {"plan": plan})
        assert expose(store, experiment, u, int(v), attributes)
    latency = rng.choice([100.0, 900.0, 4000.0, -50.0], size=(n, 3))
    errors = rng.random((n, 2)) < 0.2
    cost = rng.uniform(0.001, 0.01, (n, 2))
    writes = []
    for k, u in enumerate(users):
        writes += [event(experiment, u, j, "latency_ms", float(latency[k, j])) for j in range(3)]
        writes += [event(experiment, u, j, "error", float(errors[k, j])) for j in range(2)]
        writes += [event(experiment, u, j, "cost", float(cost[k, j]), 2.0) for j in range(2)]
    outcomes = store.events.ingest(writes)
    assert set(outcomes) == {Outcome.ACCEPTED}

    stats = store.events.snapshot(EXP).stats
    latency_y = np.minimum(latency.sum(axis=1), 5000.0)
    error_y = errors.any(axis=1).astype(float)
    cost_x, cost_y = cost.sum(axis=1), np.full(n, 4.0)
    columns: list[tuple[str, list[str | None]]] = [("model", list(models)), ("plan", plans)]
    for d, (attribute, column) in enumerate(columns):
        declared = experiment.segments[d].values
        cell_of = np.array([declared.index(c) if c in declared else len(declared) for c in column])
        for cell, segment in enumerate(stats.segments[d]):
            for v in (0, 1):
                mine = (cell_of == cell) & (variants == v)
                assert segment.users[v] == int(mine.sum()), (attribute, cell, v)
                mean = segment.metrics["latency_ms"][v]
                assert isinstance(mean, Moments)
                assert mean.total == pytest.approx(latency_y[mine].sum(), rel=1e-12, abs=1e-9)
                assert mean.total_sq == pytest.approx((latency_y[mine] ** 2).sum(), rel=1e-12)
                binary = segment.metrics["error"][v]
                assert isinstance(binary, Moments) and binary.total == error_y[mine].sum()
                ratio = segment.metrics["cost"][v]
                assert isinstance(ratio, RatioMoments)
                x, y = cost_x[mine], cost_y[mine]
                assert ratio.sum_x == pytest.approx(x.sum(), rel=1e-12, abs=1e-15)
                assert ratio.sum_y == pytest.approx(y.sum())
                assert ratio.sum_xy == pytest.approx((x * y).sum(), rel=1e-12, abs=1e-15)
        assert sum(s.users[0] + s.users[1] for s in stats.segments[d]) == n


def test_a_user_keeps_the_segment_of_the_first_exposure(store: Store) -> None:
    experiment = define(store)
    assert expose(store, experiment, "u1", 1, {"model": "claude"})
    assert not expose(store, experiment, "u1", 1, {"model": "gpt-4o"})
    assert store.events.ingest([event(experiment, "u1", 0, "latency_ms", 300.0)]) == [
        Outcome.ACCEPTED
    ]

    gpt, claude, other = store.events.snapshot(EXP).stats.segments[0]
    assert (gpt.users, claude.users, other.users) == ((0, 0), (0, 1), (0, 0))
    assert claude.metrics["latency_ms"][1] == Moments(1, 300.0, 90_000.0)


def test_the_stored_exposure_still_starts_with_its_variant(store: Store, raw_redis: Redis) -> None:
    experiment = define(store)
    assert expose(store, experiment, "u1", 1, {"model": "llama", "plan": "pro"})

    stored = raw_redis.hget(keys.exposures(EXP), "u1")
    assert stored == f"1:{int(NOW)}:2,1:"
    assert store.exposures.variant_of(EXP, "u1") == 1


def test_an_exposure_stored_before_segments_counts_in_the_whole_only(
    store: Store, raw_redis: Redis
) -> None:
    experiment = define(store)
    raw_redis.hset(keys.exposures(EXP), "old", f"0:{int(NOW)}")
    raw_redis.hincrby(keys.sufficient_stats(EXP), "users:0", 1)

    assert store.events.ingest([event(experiment, "old", 0, "latency_ms", 250.0)]) == [
        Outcome.ACCEPTED
    ]

    stats = store.events.snapshot(EXP).stats
    assert stats.metrics["latency_ms"][0] == Moments(1, 250.0, 62_500.0)
    assert all(s.metrics["latency_ms"][0].n == 0 for s in stats.segments[0])
    assert all(s.metrics["latency_ms"][0] == Moments(0, 0.0, 0.0) for s in stats.segments[1])
