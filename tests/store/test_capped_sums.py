"""The ingestion script's cap and quantile sketch, against numpy and the Python sketch.

The sums in Redis must be the exact sums of the capped per-user totals, however the events of a
user arrive (one at a time, in one batch, crossing the cap and coming back under it with a
negative value), and a metric without a cap must keep the raw sums.
"""

from __future__ import annotations

import numpy as np

from experiments.model import Experiment, HistoryEntry, MetricType
from experiments.stats.moments import Moments, RatioMoments
from experiments.stats.sketch import QuantileSketch
from experiments.store import Store
from experiments.store.events import EventWrite
from experiments.store.exposures import ExposureWrite

EXP = "capped"
NOW = 1_750_000_000.0
CAP = 5000.0


def define(store: Store) -> Experiment:
    experiment = Experiment.model_validate(
        {
            "key": EXP,
            "name": "Capped",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "new", "weight": 0.5}],
            "control": "control",
            "metrics": [
                {"key": "latency_ms", "type": "mean", "role": "guardrail", "cap": CAP},
                {"key": "raw_ms", "type": "mean"},
                {"key": "cost", "type": "ratio", "cap": 2.0},
            ],
            "status": "running",
        }
    )
    return store.experiments.create(experiment, HistoryEntry(at=NOW, actor="test", action="create"))


def test_capped_mean_sums_are_numpys_on_the_capped_totals(store: Store) -> None:
    define(store)
    rng = np.random.default_rng(4)
    users = [f"u{i}" for i in range(300)]
    store.exposures.record([ExposureWrite(EXP, u, 0) for u in users], NOW)
    # Several events a user, some past the cap, some negative (a correction) after it.
    values = rng.choice([100.0, 800.0, 2500.0, 30_000.0, -2000.0], size=(300, 4))
    writes = [
        EventWrite(EXP, u, f"{metric}-{u}-{j}", metric, MetricType.MEAN, float(values[i, j]),
                   cap=CAP if metric == "latency_ms" else None)
        for i, u in enumerate(users)
        for j in range(4)
        for metric in ("latency_ms", "raw_ms")
    ]
    for start in range(0, len(writes), 333):  # batches that split a user's events
        store.events.ingest(writes[start : start + 333])
    totals = values.sum(axis=1)
    capped = np.minimum(totals, CAP)
    stats = store.events.snapshot(EXP).stats
    latency, raw = stats.metrics["latency_ms"][0], stats.metrics["raw_ms"][0]
    assert isinstance(latency, Moments) and isinstance(raw, Moments)
    assert (latency.n, latency.total, latency.total_sq) == (
        300, float(capped.sum()), float((capped * capped).sum())
    )
    assert (raw.total, raw.total_sq) == (float(totals.sum()), float((totals * totals).sum()))


def test_a_capped_ratio_caps_each_users_numerator(store: Store) -> None:
    define(store)
    store.exposures.record([ExposureWrite(EXP, u, 1) for u in ("a", "b", "c")], NOW)
    events = [("a", 1.5, 1.0), ("a", 1.5, 2.0), ("b", 0.5, 1.0), ("a", -2.0, 1.0), ("c", 9.0, 3.0)]
    store.events.ingest([
        EventWrite(EXP, u, f"e{i}", "cost", MetricType.RATIO, x, y, cap=2.0)
        for i, (u, x, y) in enumerate(events)
    ])
    # a: x = 1.0 (3.0 was capped at 2.0, then -2.0), y = 4.0; b: 0.5, 1.0; c: 2.0 (capped), 3.0
    x, y = np.array([1.0, 0.5, 2.0]), np.array([4.0, 1.0, 3.0])
    expected = RatioMoments(3, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum())
    assert store.events.snapshot(EXP).stats.metrics["cost"][1] == expected


def test_the_scripts_quantile_buckets_are_the_sketch_of_the_raw_event_values(store: Store) -> None:
    """Each accepted event's raw value (before any cap) is counted in its log bucket; a
    duplicate is not; values <= 0 share the bucket below all others."""
    experiment = Experiment.model_validate(
        {
            "key": EXP,
            "name": "Sketched",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "new", "weight": 0.5}],
            "control": "control",
            "metrics": [{"key": "ttft_ms", "type": "mean", "quantile": 0.95, "cap": 5000.0}],
            "status": "running",
        }
    )
    store.experiments.create(experiment, HistoryEntry(at=NOW, actor="test", action="create"))
    rng = np.random.default_rng(9)
    users = {f"u{i}": i % 2 for i in range(400)}
    store.exposures.record([ExposureWrite(EXP, u, v) for u, v in users.items()], NOW)
    values = np.concatenate([np.exp(rng.normal(6.0, 1.0, 1198)), [0.0, -5.0]])
    owners = list(users)
    writes = [
        EventWrite(EXP, owners[i % 400], f"e{i}", "ttft_ms", MetricType.MEAN, float(v),
                   cap=5000.0, sketched=True)
        for i, v in enumerate(values)
    ]
    store.events.ingest(writes)
    store.events.ingest(writes[:50])  # duplicates: counted once
    sketches = store.events.snapshot(EXP).stats.sketches["ttft_ms"]
    for variant in (0, 1):
        mine = [float(v) for i, v in enumerate(values) if users[owners[i % 400]] == variant]
        assert sketches[variant] == QuantileSketch.of_values(mine)
