"""CUPED's sums in Redis, against numpy on the users' covariates and counted totals.

x and x^2 are added when the first exposure is recorded; x y moves by x d on every change d of
the user's counted value, so it is the sum of x times the final (capped) total.
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.event_rules import event_write
from experiments.model import Experiment, HistoryEntry
from experiments.stats.sufficient import CovariateSums
from experiments.store import Store, keys
from experiments.store.connection import Redis
from experiments.store.events import EventWrite, Outcome
from experiments.store.exposures import ExposureWrite

EXP = "adjusted"
NOW = 1_750_000_000.0


class Event:
    """An event as the edge validated it (event_rules.MetricEvent)."""

    def __init__(self, event_id: str, user_id: str, metric: str, value: float) -> None:
        self.event_id, self.user_id, self.metric, self.value = event_id, user_id, metric, value
        self.experiment = EXP
        self.denominator: float | None = None


def define(store: Store, shards: int = 1) -> Experiment:
    experiment = Experiment.model_validate(
        {
            "key": EXP,
            "name": "Adjusted",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "new", "weight": 0.5}],
            "control": "control",
            "metrics": [
                {"key": "requests", "type": "mean", "covariate": "requests_before", "cap": 40.0},
                {"key": "active", "type": "binary", "covariate": "sessions_before"},
                {"key": "tokens", "type": "mean", "covariate": "requests_before"},
            ],
            "status": "running",
            "shards": shards,
        }
    )
    return store.experiments.create(experiment, HistoryEntry(at=NOW, actor="test", action="create"))


def write(experiment: Experiment, event: Event) -> EventWrite:
    judged = event_write(experiment, event)
    assert isinstance(judged, EventWrite)
    return judged


@pytest.mark.parametrize("shards", [1, 3])
def test_covariate_sums_are_numpys_over_the_users(store: Store, shards: int) -> None:
    experiment = define(store, shards)
    assert experiment.covariate_names() == ["requests_before", "sessions_before"]
    rng = np.random.default_rng(2013)
    n = 200
    users = [f"u{i}" for i in range(n)]
    variants = rng.integers(0, 2, n)
    requests_before = rng.poisson(12, n).astype(float)
    sessions_before = rng.poisson(3, n).astype(float)
    sent = rng.random(n) < 0.8  # the others sent no covariate: x = 0
    exposures = [
        ExposureWrite(
            EXP, u, int(v), shards, (), (float(r), float(s)) if has else ()
        )
        for u, v, r, s, has in zip(
            users, variants, requests_before, sessions_before, sent, strict=True
        )
    ]
    assert all(r.recorded_now for r in store.exposures.record(exposures, NOW))
    requests = rng.poisson(4, (n, 3)).astype(float) * 4
    active = rng.random((n, 2)) < 0.3
    events = []
    for k, u in enumerate(users):
        events += [Event(f"r{k}-{j}", u, "requests", float(requests[k, j])) for j in range(3)]
        events += [Event(f"t{k}-{j}", u, "tokens", float(requests[k, j]) * 10) for j in range(3)]
        events += [Event(f"a{k}-{j}", u, "active", float(active[k, j])) for j in range(2)]
    assert set(store.events.ingest([write(experiment, e) for e in events])) == {Outcome.ACCEPTED}

    covariates = store.events.snapshot(EXP).stats.covariates
    x_requests = np.where(sent, requests_before, 0.0)
    x_sessions = np.where(sent, sessions_before, 0.0)
    counted = {
        "requests": (np.minimum(requests.sum(axis=1), 40.0), x_requests),
        "tokens": (requests.sum(axis=1) * 10, x_requests),
        "active": (active.any(axis=1).astype(float), x_sessions),
    }
    assert set(covariates) == set(counted)
    for metric, (y, x) in counted.items():
        for v in (0, 1):
            mine = variants == v
            expected = CovariateSums(
                int(mine.sum()),
                float(y[mine].sum()),
                float((y[mine] ** 2).sum()),
                float(x[mine].sum()),
                float((x[mine] ** 2).sum()),
                float((x[mine] * y[mine]).sum()),
            )
            assert covariates[metric][v] == expected, (metric, v)


def test_the_covariates_are_stored_with_the_first_exposure(store: Store, raw_redis: Redis) -> None:
    define(store)
    store.exposures.record([ExposureWrite(EXP, "u1", 0, 1, (), (7.0, 2.5))], NOW)
    store.exposures.record([ExposureWrite(EXP, "u1", 0, 1, (), (100.0, 100.0))], NOW + 5)

    assert raw_redis.hget(keys.exposures(EXP), "u1") == f"0:{int(NOW)}::7.0,2.5"
    sums = store.events.snapshot(EXP).stats.covariates["requests"][0]
    assert (sums.n, sums.sum_x, sums.sum_xx) == (1, 7.0, 49.0)


def test_a_ratio_metric_keeps_no_covariate_sums(store: Store) -> None:
    experiment = Experiment.model_validate(
        {
            "key": EXP,
            "name": "Ratio",
            "variants": [{"key": "control", "weight": 0.5}, {"key": "new", "weight": 0.5}],
            "control": "control",
            "metrics": [{"key": "cost", "type": "ratio", "covariate": "cost_before"}],
            "status": "running",
        }
    )
    store.experiments.create(experiment, HistoryEntry(at=NOW, actor="test", action="create"))

    assert experiment.covariate_names() == []
    assert store.events.snapshot(EXP).stats.covariates == {}
